// FileSession over a local directory or shared mount: every operation is jailed to the user's home and
// checked against the user's permissions before it touches the disk.
import fs, {constants as C, promises as fsp, type Stats} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import type {Permission, User} from '../../config/schema.js'
import {fileError, toFileError} from './file-errors.js'
import {isPartClaimed, isPartName, partNameFor} from './part-file.js'
import {normalizeVirtual, PathJail} from './path-jail.js'
import {hasPermission, requireAny, requirePermission} from './permissions.js'
import {openUpload} from './upload.js'
import type {DownloadHandle, FileSession, FileStat, OpenWriteOptions, RenameOptions, UploadHandle} from './types.js'

const open = promisify(fs.open)
const close = promisify(fs.close)
const fstat = promisify(fs.fstat)

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

export class LocalFileSession implements FileSession {
  private constructor(
    private currentUser: User,
    private readonly jail: PathJail,
  ) {}

  /** Opens a session for `user` under `storage`, creating the home directory on first login. */
  static async open(storage: string, user: User): Promise<LocalFileSession> {
    const jail = await PathJail.open(storage, user.home)
    return new LocalFileSession(user, jail)
  }

  get user(): User {
    return this.currentUser
  }

  /** Real path of the home (tests and logs; never sent to clients). */
  get root(): string {
    return this.jail.root
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
      const real = await this.jail.existing(v)
      return toFileStat(name, await fsp.stat(real))
    } catch (error) {
      const e = toFileError(error, v)
      if (e.kind !== 'not-found' || v === '/') throw e
      // A resumable upload: report the part's size so reput / REST continue where it stopped.
      const part = await this.partStat(v)
      if (part === null) throw e
      return toFileStat(name, part)
    }
  }

  async list(virtualPath: string): Promise<FileStat[]> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'list', v)
    const real = await this.jail.existing(v)
    let names: string[]
    try {
      const st = await fsp.stat(real)
      if (!st.isDirectory()) throw fileError('not-directory', v)
      names = await fsp.readdir(real)
    } catch (error) {
      throw toFileError(error, v)
    }
    const visible = names.filter((n) => !isPartName(n))
    const out: FileStat[] = []
    for (let i = 0; i < visible.length; i += LIST_BATCH) {
      const batch = await Promise.all(visible.slice(i, i + LIST_BATCH).map((n) => this.entryStat(real, n)))
      for (const s of batch) if (s !== null) out.push(s)
    }
    return out
  }

  async openRead(virtualPath: string): Promise<DownloadHandle> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'download', v)
    if (isPartName(path.posix.basename(v))) throw fileError('not-found', v)
    const real = await this.jail.existing(v)
    let fd: number
    try {
      fd = await open(real, C.O_RDONLY | C.O_NOFOLLOW)
    } catch (error) {
      throw toFileError(error, v)
    }
    try {
      const st = await fstat(fd)
      if (st.isDirectory()) throw fileError('is-directory', v)
      let closed = false
      return {
        virtualPath: v,
        realPath: real,
        fd,
        size: st.size,
        close: async () => {
          if (closed) return
          closed = true
          await close(fd)
        },
      }
    } catch (error) {
      await close(fd).catch(() => {})
      throw toFileError(error, v)
    }
  }

  async openWrite(virtualPath: string, options: OpenWriteOptions = {}): Promise<UploadHandle> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'upload', v)
    const loc = await this.jail.entry(v)
    const st = await fsp.stat(loc.real).catch(() => null)
    if (st?.isDirectory()) throw fileError('is-directory', v)
    if (st && options.exclusive) throw fileError('exists', v)
    if (st && !this.can('overwrite')) throw fileError('permission', v, 'permission denied (needs "overwrite")')
    return openUpload(loc, st !== null, options)
  }

  async mkdir(virtualPath: string): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'mkdir', v)
    const loc = await this.jail.entry(v)
    try {
      await fsp.mkdir(loc.real, {mode: 0o755})
    } catch (error) {
      throw toFileError(error, v)
    }
  }

  async rmdir(virtualPath: string): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'delete', v)
    const loc = await this.jail.entry(v)
    try {
      await fsp.rmdir(loc.real)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || !(await this.dropStaleParts(loc.real))) throw toFileError(error, v)
      await fsp.rmdir(loc.real).catch((e: unknown) => Promise.reject(toFileError(e, v)))
    }
  }

  async remove(virtualPath: string): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'delete', v)
    const loc = await this.jail.entry(v)
    const st = await fsp.lstat(loc.real).catch(() => null)
    if (st?.isDirectory()) throw fileError('is-directory', v)
    const part = path.join(loc.parent, partNameFor(loc.name))
    if (st === null) {
      // Removing a name that only exists as a kept partial upload discards that upload.
      if (isPartClaimed(part)) throw fileError('busy', v)
      await fsp.unlink(part).catch((e: unknown) => Promise.reject(toFileError(e, v)))
      return
    }
    try {
      await fsp.unlink(loc.real)
    } catch (error) {
      throw toFileError(error, v)
    }
  }

  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    const src = normalizeVirtual(from)
    const dst = normalizeVirtual(to)
    requirePermission(this.currentUser, 'rename', src)
    const a = await this.jail.entry(src)
    const b = await this.jail.entry(dst)
    if ((await fsp.lstat(a.real).catch(() => null)) === null) throw fileError('not-found', src)
    const target = await fsp.lstat(b.real).catch(() => null)
    if (target !== null && a.real !== b.real) {
      if (options.noReplace) throw fileError('exists', dst)
      if (!this.can('overwrite')) throw fileError('permission', dst, 'permission denied (needs "overwrite")')
    }
    try {
      await fsp.rename(a.real, b.real)
    } catch (error) {
      throw toFileError(error, dst)
    }
  }

  async chmod(virtualPath: string, mode: number): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requirePermission(this.currentUser, 'chmod', v)
    const real = await this.jail.existing(v)
    try {
      // No setuid/setgid/sticky bits on user files.
      await fsp.chmod(real, mode & 0o777)
    } catch (error) {
      throw toFileError(error, v)
    }
  }

  async setTimes(virtualPath: string, atime: Date, mtime: Date): Promise<void> {
    const v = normalizeVirtual(virtualPath)
    requireAny(this.currentUser, ['chmod', 'upload'], v)
    const real = await this.jail.existing(v)
    try {
      await fsp.utimes(real, atime, mtime)
    } catch (error) {
      throw toFileError(error, v)
    }
  }

  async statfs(virtualPath: string): Promise<{blockSize: number; blocks: number; freeBlocks: number; availableBlocks: number; files: number; freeFiles: number}> {
    const v = normalizeVirtual(virtualPath)
    const real = await this.jail.existing(v)
    try {
      const s = await fsp.statfs(real)
      return {blockSize: s.bsize, blocks: s.blocks, freeBlocks: s.bfree, availableBlocks: s.bavail, files: s.files, freeFiles: s.ffree}
    } catch (error) {
      throw toFileError(error, v)
    }
  }

  private async partStat(v: string): Promise<Stats | null> {
    const dir = await this.jail.existing(path.posix.dirname(v)).catch(() => null)
    if (dir === null) return null
    const st = await fsp.lstat(path.join(dir, partNameFor(path.posix.basename(v)))).catch(() => null)
    return st?.isFile() ? st : null
  }

  /** Stat of a directory entry; symlinks are followed only when they stay inside the home, else hidden. */
  private async entryStat(dir: string, name: string): Promise<FileStat | null> {
    const real = path.join(dir, name)
    const l = await fsp.lstat(real).catch(() => null)
    if (l === null) return null
    if (!l.isSymbolicLink()) return toFileStat(name, l)
    const target = await fsp.realpath(real).catch(() => null)
    if (target === null || !this.jail.contains(target)) return null
    const st = await fsp.stat(target).catch(() => null)
    return st === null ? null : toFileStat(name, st, true)
  }

  /** Deletes kept part files so a directory that looks empty can be removed; false if anything else is left. */
  private async dropStaleParts(dir: string): Promise<boolean> {
    const names = await fsp.readdir(dir).catch(() => [] as string[])
    if (names.some((n) => !isPartName(n) || isPartClaimed(path.join(dir, n)))) return false
    await Promise.all(names.map((n) => fsp.rm(path.join(dir, n), {force: true})))
    return true
  }
}
