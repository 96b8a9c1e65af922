// FileSession over a local directory or shared mount: every operation is resolved beneath the user's home
// descriptor by descriptor (beneath.ts) and checked against the user's permissions before it touches the disk.
import fs, {constants as C, promises as fsp, type Stats} from 'node:fs'
import path from 'node:path'
import type {Permission, User} from '../../config/schema.js'
import {at, Beneath, FastJail, RESERVED_TOP, type HomeHint, type Jail, type Resolved, type WalkMode} from './beneath.js'
import {fileError, toFileError} from './file-errors.js'
import {LEASE_MS, NameClaim} from './name-claim.js'
import {isPartName, keptPartsOf, partOwner, partsOf} from './part-file.js'
import {components, normalizeVirtual} from './path-jail.js'
import {descriptors} from './descriptor-budget.js'
import {hasPermission, requireAny, requirePermission} from './permissions.js'
import {openUpload} from './upload.js'
import type {DownloadHandle, FileSession, FileStat, OpenWriteOptions, RenameOptions, UploadHandle} from './types.js'


/** Entries stat'ed at once when listing a directory (bounds open files for huge directories). */
const LIST_BATCH = 64

function toFileStat(name: string, st: Stats, isSymlink = false): FileStat {
  return {
    name,
    size: st.size,
    mtime: st.mtime,
    atime: st.atime,
    mode: st.mode,
    isDirectory: st.isDirectory(),
    isFile: st.isFile(),
    isSymlink,
    uid: st.uid,
    gid: st.gid,
  }
}

export interface SessionOptions {
  /** This node's id: part files carry it, lock files name it to the other nodes. */
  nodeId?: string
  /** Open downloads + uploads allowed in this session (one connection), read live so reloads apply. */
  handleLimit?: () => number
}

/** Descriptors an operation holds across an await: storage, home, the directory reached, the final entry. */
const WALK_FDS = 4
/** Descriptors an open upload holds: its part file, its directory, its claim on the name. */
const UPLOAD_FDS = 3

export class LocalFileSession implements FileSession {
  private constructor(
    private currentUser: User,
    private readonly storage: string,
    private readonly home: string[],
    private readonly hint: HomeHint,
    private readonly nodeId: string,
    private readonly handleLimit: () => number,
  ) {}

  private handles = 0

  /** Opens a session for `user` under `storage`, creating the home directory on first login. */
  static async open(storage: string, user: User, options: SessionOptions = {}): Promise<LocalFileSession> {
    const home = components(normalizeVirtual(user.home))
    let jail: Beneath
    try {
      jail = Beneath.open(storage, home, true)
    } catch (error) {
      const e = toFileError(error, user.home)
      throw e.kind === 'permission' ? fileError('permission', user.home, 'home resolves outside the storage root') : e
    }
    try {
      return new LocalFileSession(user, storage, home, {storageReal: jail.storageRealPath, homeReal: jail.homeReal}, options.nodeId ?? `pid${process.pid}`, options.handleLimit ?? (() => Infinity))
    } finally {
      jail.close()
    }
  }

  get user(): User {
    return this.currentUser
  }

  /** Real path of the home (tests and logs; never sent to clients). */
  get root(): string {
    return this.hint.homeReal
  }

  /** Applies changed permissions to a live session (config reload); the home stays as it was at login. */
  updateUser(user: User): void {
    this.currentUser = user
  }

  can(permission: Permission): boolean {
    return hasPermission(this.currentUser, permission)
  }

  resolve(clientPath: string, cwd = '/'): string {
    return normalizeVirtual(clientPath, cwd)
  }

  async stat(virtualPath: string): Promise<FileStat> {
    const v = normalizeVirtual(virtualPath)
    const name = v === '/' ? '/' : path.posix.basename(v)
    if (isPartName(name)) throw fileError('not-found', v)
    try {
      return this.at(v, 'node', (r) => toFileStat(name, r.stat!))
    } catch (error) {
      const e = toFileError(error, v)
      if (e.kind !== 'not-found' || v === '/') throw e
      // A resumable upload: report the part's size so reput / REST continue where it stopped.
      const part = this.keptPart(v)
      if (part === null) throw e
      return {...toFileStat(name, part.stat), size: part.size}
    }
  }

  async list(virtualPath: string): Promise<FileStat[]> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'list', v)
    const give = this.budget(v, WALK_FDS)
    const jail = this.jailOrGive(v, give)
    let r: Resolved | undefined
    try {
      r = jail.walk(components(v), 'dir')
      const dirFd = r.dir.fd
      const top = jail.isStorageTop(r.dir)
      const names = (await fsp.readdir(at(dirFd))).filter((n) => !isPartName(n) && !(top && n === RESERVED_TOP))
      const out: FileStat[] = []
      for (let i = 0; i < names.length; i += LIST_BATCH) {
        const batch = await Promise.all(names.slice(i, i + LIST_BATCH).map((n) => this.entryStat(jail, dirFd, v, n)))
        for (const s of batch) if (s !== null) out.push(s)
      }
      return out
    } catch (error) {
      throw toFileError(error, v)
    } finally {
      r?.close()
      jail.close()
      give()
    }
  }

  async openRead(virtualPath: string): Promise<DownloadHandle> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'download', v)
    if (isPartName(path.posix.basename(v))) throw fileError('not-found', v)
    const handle = this.openHandle(v, 1)
    const give = this.budget(v, WALK_FDS)
    try {
      return await this.download(v, handle)
    } catch (error) {
      handle()
      throw error
    } finally {
      give()
    }
  }

  private async download(v: string, handle: () => void): Promise<DownloadHandle> {
    // Reopening the verified O_PATH descriptor reaches exactly the inode that was checked (a regular file:
    // the open cannot block like a FIFO's). Synchronous like the walk: one short call, no thread-pool hop.
    const {fd, real, size} = this.at(v, 'node', (r) => {
      if (r.stat!.isDirectory()) throw fileError('is-directory', v)
      if (!r.stat!.isFile()) throw fileError('invalid-argument', v, 'not a regular file')
      return {fd: fs.openSync(at(r.fd!), C.O_RDONLY), real: fs.readlinkSync(at(r.fd!)), size: r.stat!.size}
    })
    let closed = false
    return {
      virtualPath: v,
      realPath: real,
      fd,
      size,
      close: async () => {
        if (closed) return
        closed = true
        handle()
        fs.closeSync(fd) // one short call: no thread-pool hop (a small file's download waits on each)
      },
    }
  }

  async openWrite(virtualPath: string, options: OpenWriteOptions = {}): Promise<UploadHandle> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'upload', v)
    const handle = this.openHandle(v, UPLOAD_FDS)
    const give = this.budget(v, WALK_FDS)
    try {
      const up = await this.upload(v, options)
      const done = async (fn: () => Promise<void>) => {
        try {
          await fn()
        } finally {
          handle()
        }
      }
      return {virtualPath: up.virtualPath, fd: up.fd, tempPath: up.tempPath, startOffset: up.startOffset, setTimes: (a, m) => up.setTimes(a, m), commit: () => done(() => up.commit()), abort: (keep) => done(() => up.abort(keep))}
    } catch (error) {
      handle()
      throw error
    } finally {
      give()
    }
  }

  private async upload(v: string, options: OpenWriteOptions): Promise<UploadHandle> {
    const jail = this.jail(v)
    let parent: (Resolved & {entry: Stats | undefined}) | undefined
    let existingFd: number | undefined
    try {
      parent = this.entry(jail, v)
      const st = parent.entry
      const final = st?.isSymbolicLink() ? jail.walk(components(v), 'node') : undefined
      const target = final?.stat ?? st
      final?.close()
      if (target?.isDirectory()) throw fileError('is-directory', v)
      if (target && options.exclusive) throw fileError('exists', v)
      if (target && !this.can('overwrite')) throw fileError('permission', v, 'permission denied (needs "overwrite")')
      if (target && (options.append || options.keepExisting || (options.offset ?? 0) > 0)) {
        existingFd = jail.walk(components(v), 'node').fd // closes with the walk's directory below
      }
      // The upload owns a descriptor of its own of the verified parent for its whole life.
      const dirFd = fs.openSync(at(parent.dir.fd), C.O_RDONLY | C.O_DIRECTORY)
      const ownExisting = existingFd === undefined ? undefined : fs.openSync(at(existingFd), 0o10000000)
      return await openUpload({virtualPath: v, dirFd, name: parent.name!, existingFd: ownExisting, nodeId: this.nodeId, replaces: target?.isFile() ? target.size : 0}, options)
    } catch (error) {
      throw toFileError(error, v)
    } finally {
      if (existingFd !== undefined) fs.closeSync(existingFd)
      parent?.close()
      jail.close()
    }
  }

  async mkdir(virtualPath: string): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'mkdir', v)
    await this.onEntry(v, (dir, name) => fsp.mkdir(at(dir, name), {mode: 0o755}))
  }

  async rmdir(virtualPath: string): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'delete', v)
    await this.onEntry(v, async (dir, name, jail) => {
      try {
        await fsp.rmdir(at(dir, name))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || !this.dropStaleParts(jail, v)) throw error
        await fsp.rmdir(at(dir, name))
      }
    })
  }

  async remove(virtualPath: string): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'delete', v)
    await this.onEntry(v, async (dir, name) => {
      const st = fs.lstatSync(at(dir, name), {throwIfNoEntry: false})
      if (st?.isDirectory()) throw fileError('is-directory', v)
      if (st) return fsp.unlink(at(dir, name))
      // Removing a name that only exists as kept partial uploads discards them (unless one is being written).
      const parts = partsOf(dir, name)
      if (parts.length === 0) throw fileError('not-found', v)
      if (NameClaim.inspect(dir, name)?.live) throw fileError('busy', v, 'an upload of this file is in progress')
      for (const p of parts) await fsp.rm(at(dir, p.name), {force: true})
    })
  }

  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    const src = normalizeVirtual(from)
    const dst = normalizeVirtual(to)
    requirePermission(this.currentUser, 'rename', src)
    const give = this.budget(src, WALK_FDS)
    const jail = this.jailOrGive(src, give)
    let a: Resolved | undefined
    let b: Resolved | undefined
    try {
      a = this.entry(jail, src)
      b = this.entry(jail, dst, dst)
      const aPath = at(a.dir.fd, a.name!)
      const bPath = at(b.dir.fd, b.name!)
      const srcStat = fs.lstatSync(aPath, {throwIfNoEntry: false})
      if (!srcStat) throw fileError('not-found', src)
      const target = fs.lstatSync(bPath, {throwIfNoEntry: false})
      const same = target !== undefined && target.ino === srcStat.ino && target.dev === srcStat.dev
      if (target && !same) {
        if (options.noReplace) throw fileError('exists', dst)
        if (!this.can('overwrite')) throw fileError('permission', dst, 'permission denied (needs "overwrite")')
      }
      await fsp.rename(aPath, bPath)
    } catch (error) {
      throw toFileError(error, dst)
    } finally {
      a?.close()
      b?.close()
      jail.close()
      give()
    }
  }

  async chmod(virtualPath: string, mode: number): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'chmod', v)
    // The O_PATH descriptor is the verified inode (never a symlink): chmod through it cannot be redirected.
    // No setuid/setgid/sticky bits on user files.
    await this.onNode(v, (fd) => fsp.chmod(at(fd), mode & 0o777))
  }

  async setTimes(virtualPath: string, atime: Date, mtime: Date): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requireAny(this.currentUser, ['chmod', 'upload'], v)
    await this.onNode(v, (fd) => fsp.utimes(at(fd), atime, mtime))
  }

  async statfs(virtualPath: string): Promise<{blockSize: number; blocks: number; freeBlocks: number; availableBlocks: number; files: number; freeFiles: number}> {
    const v = normalizeVirtual(virtualPath)
    return this.onNode(v, async (fd) => {
      const s = await fsp.statfs(at(fd))
      return {blockSize: s.bsize, blocks: s.blocks, freeBlocks: s.bfree, availableBlocks: s.bavail, files: s.files, freeFiles: s.ffree}
    })
  }

  /** Descriptors for an operation that holds them across an await (the node's and this user's budget). */
  private budget(v: string, n: number): () => void {
    return descriptors.take(this.currentUser.name, n, v)
  }

  /** An open download or upload of this connection, within its handle limit and the user's descriptors. */
  private openHandle(v: string, fds: number): () => void {
    const limit = this.handleLimit()
    if (this.handles >= limit) throw fileError('no-resources', v, `too many open files in this connection (limit ${limit}); close some first`)
    const give = descriptors.take(this.currentUser.name, fds, v)
    this.handles += 1
    let done = false
    return () => {
      if (done) return
      done = true
      this.handles -= 1
      give()
    }
  }

  private jailOrGive(v: string, give: () => void): Jail {
    try {
      return this.jail(v)
    } catch (error) {
      give()
      throw error
    }
  }

  /** A fresh view of the jail for one operation (storage opened by the operator's path, home walked beneath it). */
  private jail(_v: string): Jail {
    return new FastJail(this.storage, this.home, this.hint)
  }

  /** Runs `fn` on a synchronous walk of `v` (the walk's descriptors are closed when it returns). */
  private at<T>(v: string, mode: WalkMode, fn: (r: Resolved) => T): T {
    const jail = this.jail(v)
    let r: Resolved | undefined
    try {
      r = jail.walk(components(v), mode)
      return fn(r)
    } catch (error) {
      throw toFileError(error, v)
    } finally {
      r?.close()
      jail.close()
    }
  }

  /**
   * Parent of `v` walked and verified, with the lstat of the entry (absent: no such entry); a final symlink
   * must lead inside (a dangling or outside one is refused).
   */
  private entry(jail: Jail, v: string, shown = v): Resolved & {entry: Stats | undefined} {
    if (isPartName(path.posix.basename(v))) throw fileError('invalid-path', shown, 'name reserved for uploads in progress')
    const r = jail.walk(components(v), 'parent')
    try {
      const st = fs.lstatSync(at(r.dir.fd, r.name!), {throwIfNoEntry: false})
      if (st?.isSymbolicLink()) {
        try {
          jail.walk(components(v), 'node').close()
        } catch (error) {
          const e = toFileError(error, shown)
          throw e.kind === 'not-found' ? fileError('permission', shown, 'symlink leads nowhere inside the home directory') : e
        }
      }
      return Object.assign(r, {entry: st})
    } catch (error) {
      r.close()
      throw error
    }
  }

  private async onEntry(v: string, fn: (dirFd: number, name: string, jail: Jail) => Promise<unknown>): Promise<void> {
    const give = this.budget(v, WALK_FDS)
    const jail = this.jailOrGive(v, give)
    let r: Resolved | undefined
    try {
      r = this.entry(jail, v)
      await fn(r.dir.fd, r.name!, jail)
    } catch (error) {
      throw toFileError(error, v)
    } finally {
      r?.close()
      jail.close()
      give()
    }
  }

  private async onNode<T>(v: string, fn: (fd: number) => Promise<T>): Promise<T> {
    const give = this.budget(v, WALK_FDS)
    const jail = this.jailOrGive(v, give)
    let r: Resolved | undefined
    try {
      r = jail.walk(components(v), 'node')
      return await fn(r.fd!)
    } catch (error) {
      throw toFileError(error, v)
    } finally {
      r?.close()
      jail.close()
      give()
    }
  }

  /** The largest kept part of `v` (a resumable upload), with its size. */
  private keptPart(v: string): {stat: Stats; size: number} | null {
    try {
      return this.at(path.posix.dirname(v), 'dir', (r) => {
        const best = keptPartsOf(r.dir.fd, path.posix.basename(v), 'locked')[0]
        if (!best) return null
        const stat = fs.lstatSync(at(r.dir.fd, best.name))
        return {stat, size: stat.size}
      })
    } catch {
      return null
    }
  }

  /** Stat of a directory entry; symlinks are followed only when they stay inside the home, else hidden. */
  private async entryStat(jail: Jail, dirFd: number, dirV: string, name: string): Promise<FileStat | null> {
    const l = await fsp.lstat(at(dirFd, name)).catch(() => null)
    if (l === null) return null
    if (!l.isSymbolicLink()) return toFileStat(name, l)
    try {
      const r = jail.walk([...components(dirV), name], 'node')
      const st = r.stat!
      r.close()
      return toFileStat(name, st, true)
    } catch {
      return null
    }
  }

  /** Deletes kept part files and dead locks so a directory that looks empty can be removed; false if anything else is left. */
  private dropStaleParts(jail: Jail, v: string): boolean {
    const r = jail.walk(components(v), 'dir')
    try {
      const names = fs.readdirSync(at(r.dir.fd))
      const now = Date.now()
      for (const n of names) {
        if (!isPartName(n)) return false
        const st = fs.lstatSync(at(r.dir.fd, n), {throwIfNoEntry: false})
        if (st && now - st.mtimeMs < LEASE_MS && partOwner(n) === null) return false // a live lock
      }
      for (const n of names) fs.rmSync(at(r.dir.fd, n), {force: true})
      return true
    } finally {
      r.close()
    }
  }
}
