// The one place where file-session errors become FTP replies (style.md habit 3).
import {FileError, type FileErrorKind} from '../session/types.js'

export interface FtpReply {
  code: number
  text: string
}

const BY_KIND: Record<FileErrorKind, FtpReply> = {
  'not-found': {code: 550, text: 'No such file or directory'},
  permission: {code: 550, text: 'Permission denied'},
  exists: {code: 550, text: 'File exists'},
  'not-empty': {code: 550, text: 'Directory not empty'},
  'not-directory': {code: 550, text: 'Not a directory'},
  'is-directory': {code: 550, text: 'Is a directory'},
  'no-space': {code: 452, text: 'Insufficient storage space'},
  'invalid-path': {code: 553, text: 'File name not allowed'},
  'name-too-long': {code: 553, text: 'File name too long'},
  'invalid-argument': {code: 550, text: 'Invalid argument'},
  'no-resources': {code: 452, text: 'Too many open files on the server, try again later'},
  busy: {code: 450, text: 'File busy, try again later'},
  io: {code: 451, text: 'Local error in processing'},
}

/** Maps any error thrown by a file operation to the reply the client gets (never leaks real paths). */
export function fileErrorReply(error: unknown): FtpReply {
  if (error instanceof FileError) return BY_KIND[error.kind]
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return BY_KIND['no-space']
  return BY_KIND.io
}
