// Uploads: data goes to a part file unique to this upload next to the target, under a claim on the final
// name that holds across nodes; commit renames the part over the final name only while the claim is still
// ours, so no client sees a partial file, two writers never mix, and nobody is told "done" for lost data.
// A stopped upload's part rests under a fixed name (keptNameFor), so finding it needs no directory listing.
import fs, {constants as C, promises as fsp} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {promisify} from 'node:util'
import {at} from './beneath.js'
import {fileError, toFileError} from './file-errors.js'
import {NameClaim} from './name-claim.js'
import {keptNameFor, keptPartsOf, partNameFor} from './part-file.js'
import type {OpenWriteOptions, UploadHandle} from './types.js'

const open = promisify(fs.open)
const close = promisify(fs.close)
const ftruncate = promisify(fs.ftruncate)
const fdatasync = promisify(fs.fdatasync)

/** This process's upload policy, from `sites.files.syncUploads` (set where the configuration is applied). */
const policy = {sync: true}

export function configureUploads(options: {sync: boolean}): void {
  policy.sync = options.sync
}

/** fsync of a directory known by an O_PATH descriptor (reopened read-only through /proc: the same inode). */
function syncDirectory(dirFd: number): void {
  const fd = fs.openSync(at(dirFd), C.O_RDONLY | C.O_DIRECTORY)
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Whether an existing final file's content is reused (resume, append, in-place edit) or replaced. */
export function keepsContent(options: OpenWriteOptions): boolean {
  return Boolean(options.append || options.keepExisting || (options.offset !== undefined && options.offset > 0))
}

/** Where an upload goes: the verified parent directory (its descriptor now owned by the upload) and the name. */
export interface UploadTarget {
  virtualPath: string
  dirFd: number
  name: string
  /** O_PATH descriptor of the existing final file when its content is reused (closed by openUpload). */
  existingFd?: number
  nodeId: string
  /** Size of the file the commit replaces (0: none): freeing a large one's blocks takes a while. */
  replaces?: number
}

/**
 * Replacing a file this large is renamed in the thread pool: the rename frees the old file's blocks (ext4 took
 * ~80 ms for 256 MiB here), which would stall every session of the worker. Smaller ones stay synchronous.
 */
const ASYNC_RENAME_BYTES = 16 * 1024 * 1024

/** Tag of this node in part names: letters, digits and `_` only, at most 16. */
export function nodeTag(nodeId: string): string {
  return nodeId.replace(/[^A-Za-z0-9_]/g, '').slice(0, 16) || 'node'
}

export class LocalUpload implements UploadHandle {
  private done = false
  /** Times the client set (FSETSTAT, scp -p): applied again just before the commit. */
  private times: {atime: number; mtime: number} | undefined

  constructor(
    readonly virtualPath: string,
    readonly fd: number,
    readonly tempPath: string,
    readonly startOffset: number,
    private readonly target: UploadTarget,
    private readonly partName: string,
    private readonly claim: NameClaim,
  ) {}

  setTimes(atime: number, mtime: number): void {
    fs.futimesSync(this.fd, atime, mtime)
    this.times = {atime, mtime}
  }

  async commit(): Promise<void> {
    if (this.done) return
    this.done = true
    const part = at(this.target.dirFd, this.partName)
    try {
      // Durable before it is acknowledged: the content, then (after the rename) the directory entry.
      const sync = policy.sync
      if (sync) await fdatasync(this.fd)
      // Synchronous, like the walks: short metadata calls, where a thread-pool hop costs more than the call
      // (on a busy machine it dominated the time of a small file's upload). The lease renewal may have
      // touched the part's times since the client set them; it stops now, as the rename may wait in the pool.
      this.claim.stopRenewal()
      if (this.times) fs.futimesSync(this.fd, this.times.atime, this.times.mtime)
      fs.closeSync(this.fd)
      if (!this.claim.holds()) throw fileError('busy', this.virtualPath, 'the upload lost its claim on the name (stopped longer than the lease); upload it again')
      if ((this.target.replaces ?? 0) >= ASYNC_RENAME_BYTES) await fsp.rename(part, at(this.target.dirFd, this.target.name))
      else fs.renameSync(part, at(this.target.dirFd, this.target.name))
      if (sync) syncDirectory(this.target.dirFd)
    } catch (error) {
      await fsp.rm(part, {force: true}).catch(() => {})
      throw toFileError(error, this.virtualPath)
    } finally {
      this.finish()
    }
  }

  async abort(keepForResume: boolean): Promise<void> {
    if (this.done) return
    this.done = true
    try {
      await close(this.fd).catch(() => {})
      // A part file only helps a resume while the final name does not exist (stat reports the part's size then).
      const finalExists = await fsp.lstat(at(this.target.dirFd, this.target.name)).then(() => true, () => false)
      const part = at(this.target.dirFd, this.partName)
      if (!keepForResume || finalExists || !this.claim.holds()) await fsp.rm(part, {force: true}).catch(() => {})
      // Kept under the name's fixed resting name (while the claim is still ours), where a resume finds it.
      else await fsp.rename(part, at(this.target.dirFd, keptNameFor(this.target.name))).catch(() => fsp.rm(part, {force: true}).catch(() => {}))
    } finally {
      this.finish()
    }
  }

  private finish(): void {
    try {
      this.claim.release()
    } catch {
      // storage gone; the lease runs out by itself
    }
    fs.closeSync(this.target.dirFd)
  }
}

/**
 * Opens a fresh part (O_EXCL) and claims the final name with a link to it. Resumes (offset, append,
 * keepExisting; claimed first, with a lock file) start from the final file's content when it exists (cloned
 * where the file system can), else from the largest kept part of the name (any node's: the claim means nobody
 * writes it). Other kept parts of the name are dropped.
 */
export async function openUpload(target: UploadTarget, options: OpenWriteOptions): Promise<LocalUpload> {
  const v = target.virtualPath
  let claim: NameClaim | undefined
  let fd: number | undefined
  const partName = partNameFor(target.name, `${nodeTag(target.nodeId)}-${randomBytes(6).toString('hex')}`)
  const part = at(target.dirFd, partName)
  const mode = (options.mode ?? 0o644) & 0o755
  const fresh = !keepsContent(options)
  let created = false
  try {
    if (fresh) {
      // A new upload: its part first, then the claim as a link to it (one inode, like a plain create).
      fd = fs.openSync(part, C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode)
      created = true
      claim = NameClaim.acquire(target.dirFd, target.name, v, target.nodeId, partName)
    } else {
      claim = NameClaim.acquire(target.dirFd, target.name, v, target.nodeId)
    }
    // Parts at rest are found by name; a lock that was there before ours (a dead node's) may have left
    // tagged parts: then the directory is listed (our own new part is not one of them).
    const kept = keptPartsOf(target.dirFd, target.name, claim.contended).filter((p) => p.name !== partName)
    let reuse: {name: string; size: number} | undefined
    if (!fresh && target.existingFd === undefined && kept.length > 0) reuse = kept.shift()!
    const stored = target.existingFd !== undefined ? fs.fstatSync(target.existingFd).size : (reuse?.size ?? 0)
    // Checked before anything is moved: a restart offset past what was stored would leave a hole of zeros.
    if (!options.append && !options.keepExisting && options.offset !== undefined && options.offset > stored) {
      throw fileError('invalid-argument', v, `restart offset ${options.offset} is past the ${stored} bytes stored`)
    }
    for (const p of kept) await fsp.rm(at(target.dirFd, p.name), {force: true})
    if (!fresh) {
      if (target.existingFd !== undefined) await fsp.copyFile(at(target.existingFd), part, C.COPYFILE_EXCL | C.COPYFILE_FICLONE)
      else if (reuse !== undefined) await fsp.rename(at(target.dirFd, reuse.name), part)
      fd = await open(part, C.O_RDWR | C.O_CREAT | C.O_NOFOLLOW, mode)
    }
    // `fd` is set on both paths above: the new part's, or the resumed content's.
    let start = fs.fstatSync(fd!).size
    if (!options.append && !options.keepExisting && options.offset !== undefined) {
      await ftruncate(fd!, options.offset)
      start = options.offset
    }
    const tempPath = `${fs.readlinkSync(at(target.dirFd))}/${partName}`
    return new LocalUpload(v, fd!, tempPath, start, target, partName, claim)
  } catch (error) {
    if (fd !== undefined) await close(fd).catch(() => {})
    if (claim || created) await fsp.rm(part, {force: true}).catch(() => {})
    if (claim) {
      try {
        claim.release()
      } catch {
        // lease runs out
      }
    }
    fs.closeSync(target.dirFd)
    throw toFileError(error, v)
  } finally {
    if (target.existingFd !== undefined) fs.closeSync(target.existingFd)
  }
}
