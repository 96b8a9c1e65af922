// The protocol-agnostic file session: what SFTP and FTP adapters translate their requests into.
// Every path a client gives is a *virtual* path inside the user's jail ("/" is the user's home).
import type {Permission, User} from '../../config/schema.js'

/** Error kinds of file operations; each protocol maps them to its codes in exactly one function. */
export type FileErrorKind =
  | 'not-found'
  | 'permission' // the user's permissions or the jail forbid it
  | 'exists'
  | 'not-empty'
  | 'not-directory'
  | 'is-directory'
  | 'no-space' // ENOSPC / EDQUOT
  | 'invalid-path' // NUL bytes, backslashes, escapes out of the jail
  | 'name-too-long' // ENAMETOOLONG: a component or the path exceeds the file system's limit
  | 'invalid-argument' // EINVAL: e.g. renaming a directory into itself
  | 'no-resources' // a per-connection/per-user limit or the daemon's descriptor budget ran out
  | 'busy' // e.g. the same file being uploaded by another session or node
  | 'io'

export class FileError extends Error {
  constructor(readonly kind: FileErrorKind, message: string) {
    super(message)
    this.name = 'FileError'
  }
}

export interface FileStat {
  name: string
  size: number
  mtime: Date
  atime: Date
  mode: number
  isDirectory: boolean
  isFile: boolean
  isSymlink: boolean
  uid: number
  gid: number
}

/** An open download: read from `fd` directly (lets FTP use streams and SFTP positional reads). */
export interface DownloadHandle {
  readonly virtualPath: string
  readonly realPath: string
  readonly fd: number
  readonly size: number
  /**
   * Present when the content is still arriving (the striped gateway relays a node's copy as it comes): resolves
   * once bytes [0, end) can be read from `fd`, rejects when they never will. Readers await it before reading.
   */
  available?(end: number): Promise<void>
  close(): Promise<void>
}

/**
 * An open upload. Data goes to a temporary file next to the target; `commit` renames it over the final
 * name (so no client sees a partial file), `abort` deletes it unless it is kept for a resume.
 */
export interface UploadHandle {
  readonly virtualPath: string
  readonly fd: number
  /** Where the temporary file is (tests use it). */
  readonly tempPath: string
  /** Offset at which the upload started (REST / reput). */
  readonly startOffset: number
  /** Told after each write to `fd` landed (the striped gateway forwards the content while it arrives). */
  wrote?(offset: number, length: number): void
  /** Told when `fd` was truncated or extended to `size`. */
  resized?(size: number): void
  /**
   * Sets the file's access and modification times (seconds), kept through commit: the upload's own
   * bookkeeping may touch `fd`'s times meanwhile (a new upload's lease is renewed on its part).
   */
  setTimes(atime: number, mtime: number): void
  commit(): Promise<void>
  abort(keepForResume: boolean): Promise<void>
}

export interface OpenWriteOptions {
  /** Start writing at this offset of the existing (partial or final) content: REST + STOR, reput. */
  offset?: number
  /** Append to the existing content (APPE, SFTP APPEND). */
  append?: boolean
  /** Fail with `exists` if the target exists (SFTP EXCL). */
  exclusive?: boolean
  /** Keep the existing content and allow writes at any offset (SFTP OPEN without TRUNC or APPEND). */
  keepExisting?: boolean
  /** Permission bits of a newly created file (SFTP OPEN attrs); group/other write bits are dropped. */
  mode?: number
}

export interface RenameOptions {
  /** Fail with `exists` instead of replacing an existing target (SFTP v3 RENAME). */
  noReplace?: boolean
}

export interface FileSession {
  readonly user: User
  can(permission: Permission): boolean
  /** Normalises a client path against `cwd` into a virtual absolute path; throws `invalid-path`. */
  resolve(clientPath: string, cwd?: string): string
  stat(virtualPath: string): Promise<FileStat>
  list(virtualPath: string): Promise<FileStat[]>
  openRead(virtualPath: string): Promise<DownloadHandle>
  openWrite(virtualPath: string, options?: OpenWriteOptions): Promise<UploadHandle>
  mkdir(virtualPath: string): Promise<void>
  rmdir(virtualPath: string): Promise<void>
  remove(virtualPath: string): Promise<void>
  rename(from: string, to: string, options?: RenameOptions): Promise<void>
  chmod(virtualPath: string, mode: number): Promise<void>
  setTimes(virtualPath: string, atime: Date, mtime: Date): Promise<void>
  statfs(virtualPath: string): Promise<{blockSize: number; blocks: number; freeBlocks: number; availableBlocks: number; files: number; freeFiles: number}>
}
