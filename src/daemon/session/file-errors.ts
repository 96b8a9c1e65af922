// Turns errno failures of the file system into FileErrors that name the *virtual* path only.
import {FileError, type FileErrorKind} from './types.js'

const BY_ERRNO: Record<string, FileErrorKind> = {
  ENOENT: 'not-found',
  EACCES: 'permission',
  EPERM: 'permission',
  EROFS: 'permission',
  EEXIST: 'exists',
  ENOTEMPTY: 'not-empty',
  ENOTDIR: 'not-directory',
  EISDIR: 'is-directory',
  ENOSPC: 'no-space',
  EDQUOT: 'no-space',
  EFBIG: 'no-space',
  ELOOP: 'invalid-path',
  ENAMETOOLONG: 'name-too-long',
  EINVAL: 'invalid-argument',
  EMFILE: 'no-resources',
  ENFILE: 'no-resources',
  EXDEV: 'invalid-argument',
  EBUSY: 'busy',
  ETXTBSY: 'busy',
}

const DESCRIBE: Record<FileErrorKind, string> = {
  'not-found': 'no such file or directory',
  permission: 'permission denied',
  exists: 'already exists',
  'not-empty': 'directory not empty',
  'not-directory': 'not a directory',
  'is-directory': 'is a directory',
  'no-space': 'no space left on the storage',
  'invalid-path': 'path not allowed',
  'name-too-long': 'file name too long',
  'invalid-argument': 'invalid argument',
  'no-resources': 'too many open files on the server, try again later',
  busy: 'in use by another transfer',
  io: 'input/output error',
}

/** Path shown by errors raised below the session (the walk), replaced by the virtual path in toFileError. */
export const PLACEHOLDER = '(path)'

export function fileError(kind: FileErrorKind, virtualPath: string, detail?: string): FileError {
  return new FileError(kind, `${virtualPath}: ${detail ?? DESCRIBE[kind]}`)
}

/** Maps any thrown value to a FileError; the real path in Node's message is never exposed. */
export function toFileError(error: unknown, virtualPath: string): FileError {
  // Errors of a walk name no path ("(path): …"): they get the client's virtual path here.
  if (error instanceof FileError) return error.message.startsWith(PLACEHOLDER) ? new FileError(error.kind, virtualPath + error.message.slice(PLACEHOLDER.length)) : error
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const kind = (code !== undefined && BY_ERRNO[code]) || 'io'
  return fileError(kind, virtualPath)
}
