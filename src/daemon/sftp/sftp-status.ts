// The one place where file-session errors become SFTP status codes (style.md habit 3).
import {FileError, type FileErrorKind} from '../session/types.js'

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02). */
export const STATUS = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  OP_UNSUPPORTED: 8,
} as const

const BY_KIND: Record<FileErrorKind, number> = {
  'not-found': STATUS.NO_SUCH_FILE,
  permission: STATUS.PERMISSION_DENIED,
  'invalid-path': STATUS.PERMISSION_DENIED,
  // As OpenSSH's sftp-server maps ENAMETOOLONG and EINVAL (SFTP v3 has no closer code); the message says which.
  'name-too-long': STATUS.BAD_MESSAGE,
  'invalid-argument': STATUS.BAD_MESSAGE,
  'no-resources': STATUS.FAILURE,
  exists: STATUS.FAILURE,
  'not-empty': STATUS.FAILURE,
  'not-directory': STATUS.FAILURE,
  'is-directory': STATUS.FAILURE,
  'no-space': STATUS.FAILURE,
  busy: STATUS.FAILURE,
  io: STATUS.FAILURE,
}

/** Status code and message for any error of a file operation (messages name virtual paths only). */
export function sftpStatusFor(error: unknown): {code: number; message: string} {
  if (error instanceof FileError) return {code: BY_KIND[error.kind], message: error.message}
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return {code: STATUS.FAILURE, message: 'no space left on the storage'}
  return {code: STATUS.FAILURE, message: 'input/output error'}
}
