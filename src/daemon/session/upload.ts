// Uploads: data goes to the part file next to the target and is renamed over the final name on commit,
// so no client ever sees a partial file under the final name; resumes continue the part file.
import fs, {constants as C, promises as fsp} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import {fileError, toFileError} from './file-errors.js'
import {claimPart, partNameFor, releasePart} from './part-file.js'
import type {EntryLocation} from './path-jail.js'
import type {OpenWriteOptions, UploadHandle} from './types.js'

const open = promisify(fs.open)
const close = promisify(fs.close)
const fstat = promisify(fs.fstat)
const ftruncate = promisify(fs.ftruncate)

/** Whether an existing final file's content is reused (resume, append, in-place edit) or replaced. */
export function keepsContent(options: OpenWriteOptions): boolean {
  return Boolean(options.append || options.keepExisting || (options.offset !== undefined && options.offset > 0))
}

export class LocalUpload implements UploadHandle {
  private done = false

  constructor(
    readonly virtualPath: string,
    readonly fd: number,
    readonly tempPath: string,
    readonly startOffset: number,
    private readonly finalPath: string,
  ) {}

  async commit(): Promise<void> {
    if (this.done) return
    this.done = true
    try {
      await close(this.fd)
      await fsp.rename(this.tempPath, this.finalPath)
    } catch (error) {
      await fsp.rm(this.tempPath, {force: true}).catch(() => {})
      throw toFileError(error, this.virtualPath)
    } finally {
      releasePart(this.tempPath)
    }
  }

  async abort(keepForResume: boolean): Promise<void> {
    if (this.done) return
    this.done = true
    try {
      await close(this.fd).catch(() => {})
      // A part file only helps a resume while the final name does not exist (stat reports the part's size then).
      const finalExists = await fsp.lstat(this.finalPath).then(() => true, () => false)
      if (!keepForResume || finalExists) await fsp.rm(this.tempPath, {force: true}).catch(() => {})
    } finally {
      releasePart(this.tempPath)
    }
  }
}

/**
 * Opens the part file for `loc`. Fresh uploads truncate it; resumes (offset, append, keepExisting) start
 * from the final file's content when it exists (copied, cloned where the file system can), else the part's.
 */
export async function openUpload(loc: EntryLocation, finalExists: boolean, options: OpenWriteOptions): Promise<LocalUpload> {
  const tempPath = path.join(loc.parent, partNameFor(loc.name))
  if (!claimPart(tempPath)) throw fileError('busy', loc.virtualPath, 'another upload of this file is in progress')
  const mode = (options.mode ?? 0o644) & 0o755
  let fd: number | undefined
  try {
    if (!keepsContent(options)) {
      fd = await open(tempPath, C.O_RDWR | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, mode)
      return new LocalUpload(loc.virtualPath, fd, tempPath, 0, loc.real)
    }
    if (finalExists) await fsp.copyFile(loc.real, tempPath, C.COPYFILE_FICLONE)
    fd = await open(tempPath, C.O_RDWR | C.O_CREAT | C.O_NOFOLLOW, mode)
    let start = (await fstat(fd)).size
    if (!options.append && !options.keepExisting && options.offset !== undefined) {
      await ftruncate(fd, options.offset)
      start = options.offset
    }
    return new LocalUpload(loc.virtualPath, fd, tempPath, start, loc.real)
  } catch (error) {
    if (fd !== undefined) await close(fd).catch(() => {})
    releasePart(tempPath)
    throw toFileError(error, loc.virtualPath)
  }
}
