// One SFTP channel: maps each SFTP v3 request onto the file session and replies by request id.
import fs from 'node:fs'
import type {Socket} from 'node:net'
import {promisify} from 'node:util'
import type {Attributes, SFTPWrapper} from 'ssh2'
import type {DownloadHandle, FileSession, FileStat, UploadHandle} from '../session/types.js'
import {longname, toAttrs} from './sftp-attrs.js'
import {STATUS, sftpStatusFor} from './sftp-status.js'
import {DATA_HEADER, advertiseExtensions, corkDrains, readString, sendData, sendExtendedReply, supportsRawReplies, uint64s, versionPacket} from './sftp-wire.js'

/** Open handles per channel (OpenSSH sftp-server has no limit; unbounded handles would exhaust fds). */
export const MAX_HANDLES = 256
/** Largest READ/WRITE payload we accept and advertise in limits@openssh.com (what OpenSSH's server uses). */
export const MAX_IO = 255 * 1024
/** Largest SFTP packet ssh2 accepts (its _maxInPktLen). */
const MAX_PACKET = 256 * 1024
/** Directory entries per READDIR reply. */
const READDIR_BATCH = 128

const fstat = promisify(fs.fstat)
const fchmod = promisify(fs.fchmod)
const futimes = promisify(fs.futimes)
const ftruncate = promisify(fs.ftruncate)
const fdatasync = promisify(fs.fdatasync)

const OPEN = {READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 0x10, EXCL: 0x20} as const

const VERSION = versionPacket([
  ['posix-rename@openssh.com', '1'],
  ['statvfs@openssh.com', '2'],
  ['fsync@openssh.com', '1'],
  ['limits@openssh.com', '1'],
])

type Handle =
  | {kind: 'read'; file: DownloadHandle}
  | {kind: 'write'; file: UploadHandle; append: boolean; position: number; failed: unknown}
  | {kind: 'dir'; entries: FileStat[]; index: number}

/**
 * Whether an offset (+ length) from the wire is a byte position we can honour exactly: ssh2 hands uint64s
 * over as imprecise Numbers (or BigInts), and ≥ 2^53 would be rounded, i.e. read or written in the wrong place.
 */
export function badRange(offset: unknown, length: number): string | null {
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(offset + length)) {
    return `offset ${String(offset)} is out of range (the largest supported is 2^53 - 1 bytes)`
  }
  return null
}

/** Reusable read buffers: a READ borrows one and returns it once its reply has left. */
class BufferPool {
  private readonly free: Buffer[] = []
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(DATA_HEADER + MAX_IO)
  }
  give(b: Buffer): void {
    if (this.free.length < 16) this.free.push(b)
  }
}

export class SftpHandler {
  private readonly handles = new Map<number, Handle>()
  private nextHandle = 1
  private readonly pool = new BufferPool()
  private closed = false
  private readonly raw: boolean

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly session: FileSession,
    private readonly socket: Socket | undefined,
    private readonly onActivity: () => void = () => {},
  ) {
    this.raw = supportsRawReplies(sftp)
    if (this.raw) {
      advertiseExtensions(sftp, VERSION)
      corkDrains(sftp, socket)
    }
    sftp.on('OPEN', (id, filename, flags, attrs) => this.run(id, () => this.open(id, filename, flags, attrs)))
    sftp.on('READ', (id, handle, offset, length) => this.read(id, handle, offset, length))
    sftp.on('WRITE', (id, handle, offset, data) => this.write(id, handle, offset, data))
    sftp.on('CLOSE', (id, handle) => this.run(id, () => this.close(id, handle)))
    sftp.on('FSTAT', (id, handle) => this.run(id, () => this.fstat(id, handle)))
    sftp.on('FSETSTAT', (id, handle, attrs) => this.run(id, () => this.fsetstat(id, handle, attrs)))
    sftp.on('STAT', (id, path) => this.run(id, () => this.stat(id, path)))
    sftp.on('LSTAT', (id, path) => this.run(id, () => this.stat(id, path)))
    sftp.on('SETSTAT', (id, path, attrs) => this.run(id, () => this.setstat(id, path, attrs)))
    sftp.on('OPENDIR', (id, path) => this.run(id, () => this.opendir(id, path)))
    sftp.on('READDIR', (id, handle) => this.run(id, () => this.readdir(id, handle)))
    sftp.on('REMOVE', (id, path) => this.run(id, async () => this.ok(id, await this.session.remove(this.session.resolve(path)))))
    sftp.on('MKDIR', (id, path) => this.run(id, async () => this.ok(id, await this.session.mkdir(this.session.resolve(path)))))
    sftp.on('RMDIR', (id, path) => this.run(id, async () => this.ok(id, await this.session.rmdir(this.session.resolve(path)))))
    sftp.on('REALPATH', (id, path) => this.run(id, () => this.realpath(id, path)))
    sftp.on('RENAME', (id, from, to) => this.run(id, async () => this.ok(id, await this.session.rename(this.session.resolve(from), this.session.resolve(to), {noReplace: true}))))
    sftp.on('EXTENDED', (id, name, data) => this.run(id, () => this.extended(id, name, data)))
    sftp.on('close', () => void this.dispose())
    // The client sent EOF: finish like sftp-server exiting, which makes sshd close the channel.
    sftp.on('end', () => void this.dispose().then(() => sftp.end()))
    sftp.on('error', () => void this.dispose())
  }

  get openHandles(): number {
    return this.handles.size
  }

  /** Client gone: finished downloads close, unfinished uploads keep their part file for a resume. */
  async dispose(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const all = [...this.handles.values()]
    this.handles.clear()
    await Promise.all(
      all.map((h) => {
        if (h.kind === 'read') return h.file.close().catch(() => {})
        if (h.kind === 'write') return h.file.abort(h.failed === undefined).catch(() => {})
        return undefined
      }),
    )
  }

  private run(id: number, task: () => Promise<void> | void): void {
    this.onActivity()
    let p: Promise<void> | void
    try {
      p = task()
    } catch (error) {
      this.fail(id, error)
      return
    }
    if (p) p.catch((error: unknown) => this.fail(id, error))
  }

  private fail(id: number, error: unknown): void {
    if (this.closed) return
    const {code, message} = sftpStatusFor(error)
    this.sftp.status(id, code, message)
  }

  private ok(id: number, _done?: void): void {
    if (!this.closed) this.sftp.status(id, STATUS.OK)
  }

  private addHandle(h: Handle): Buffer {
    const n = this.nextHandle
    this.nextHandle = (this.nextHandle + 1) >>> 0 || 1
    this.handles.set(n, h)
    const b = Buffer.allocUnsafe(4)
    b.writeUInt32BE(n, 0)
    return b
  }

  private lookup(handle: Buffer): {n: number; h: Handle} | null {
    if (handle.length !== 4) return null
    const n = handle.readUInt32BE(0)
    const h = this.handles.get(n)
    return h ? {n, h} : null
  }

  private badHandle(id: number): void {
    this.sftp.status(id, STATUS.FAILURE, 'invalid handle')
  }

  private async open(id: number, filename: string, flags: number, attrs: Attributes): Promise<void> {
    if (this.handles.size >= MAX_HANDLES) return this.sftp.status(id, STATUS.FAILURE, `too many open handles (limit ${MAX_HANDLES})`)
    const v = this.session.resolve(filename)
    let h: Handle
    if (flags & OPEN.WRITE) {
      if (!(flags & OPEN.CREAT)) await this.session.stat(v) // without CREAT the file must exist
      const file = await this.session.openWrite(v, {
        exclusive: Boolean(flags & OPEN.EXCL),
        append: Boolean(flags & OPEN.APPEND),
        keepExisting: !(flags & (OPEN.TRUNC | OPEN.APPEND)),
        mode: typeof attrs?.mode === 'number' ? attrs.mode : undefined,
      })
      h = {kind: 'write', file, append: Boolean(flags & OPEN.APPEND), position: file.startOffset, failed: undefined}
    } else {
      h = {kind: 'read', file: await this.session.openRead(v)}
    }
    if (this.closed) {
      if (h.kind === 'read') await h.file.close()
      else await h.file.abort(true)
      return
    }
    this.sftp.handle(id, this.addHandle(h))
  }

  private read(id: number, handle: Buffer, offset: number, length: number): void {
    this.onActivity()
    const found = this.lookup(handle)
    if (!found || found.h.kind === 'dir') return this.badHandle(id)
    const len = Math.min(length, MAX_IO)
    const bad = badRange(offset, len)
    if (bad) return this.sftp.status(id, STATUS.BAD_MESSAGE, bad)
    const fd = found.h.file.fd
    const buf = this.pool.take()
    fs.read(fd, buf, DATA_HEADER, len, offset, (err, n) => {
      if (this.closed) return
      if (err) {
        this.pool.give(buf)
        return this.fail(id, err)
      }
      if (n === 0) {
        this.pool.give(buf)
        return this.sftp.status(id, STATUS.EOF)
      }
      if (!this.raw) {
        this.sftp.data(id, buf.subarray(DATA_HEADER, DATA_HEADER + n))
        return this.pool.give(buf)
      }
      if (sendData(this.sftp, id, buf, n, this.socket)) this.pool.give(buf)
    })
  }

  private write(id: number, handle: Buffer, offset: number, data: Buffer): void {
    this.onActivity()
    const found = this.lookup(handle)
    if (!found || found.h.kind !== 'write') return this.badHandle(id)
    const h = found.h
    const bad = badRange(offset, data.length)
    if (bad) return this.sftp.status(id, STATUS.BAD_MESSAGE, bad)
    let position = offset
    if (h.append) {
      position = h.position
      h.position += data.length
    }
    fs.write(h.file.fd, data, 0, data.length, position, (err) => {
      if (err) h.failed ??= err
      if (this.closed) return
      if (err) return this.fail(id, err)
      this.sftp.status(id, STATUS.OK)
    })
  }

  private async close(id: number, handle: Buffer): Promise<void> {
    const found = this.lookup(handle)
    if (!found) return this.badHandle(id)
    this.handles.delete(found.n)
    const h = found.h
    if (h.kind === 'read') await h.file.close()
    if (h.kind === 'write') {
      // A failed write (disk full…) must not become a truncated file under the final name.
      if (h.failed !== undefined) {
        await h.file.abort(false)
        throw h.failed
      }
      await h.file.commit()
    }
    this.ok(id)
  }

  private async fstat(id: number, handle: Buffer): Promise<void> {
    const found = this.lookup(handle)
    if (!found || found.h.kind === 'dir') return this.badHandle(id)
    const s = await fstat(found.h.file.fd)
    this.sftp.attrs(id, {mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, atime: Math.floor(s.atimeMs / 1000), mtime: Math.floor(s.mtimeMs / 1000)})
  }

  private async fsetstat(id: number, handle: Buffer, attrs: Attributes): Promise<void> {
    const found = this.lookup(handle)
    if (!found || found.h.kind === 'dir') return this.badHandle(id)
    if (found.h.kind === 'read') {
      await this.session.stat(found.h.file.virtualPath)
      return this.setstat(id, found.h.file.virtualPath, attrs)
    }
    // An upload's attributes go to its part file; they become the final file's on commit.
    const fd = found.h.file.fd
    const wantsMode = typeof attrs.mode === 'number'
    const wantsTimes = typeof attrs.atime === 'number' || typeof attrs.mtime === 'number'
    if (wantsMode && !this.session.can('chmod')) return this.sftp.status(id, STATUS.PERMISSION_DENIED, 'permission denied (needs "chmod")')
    if (wantsMode) await fchmod(fd, attrs.mode & 0o755)
    if (wantsTimes) {
      const now = Date.now() / 1000
      await futimes(fd, attrs.atime ?? now, attrs.mtime ?? now)
    }
    if (attrs.size !== undefined) {
      const bad = badRange(attrs.size, 0)
      if (bad) return this.sftp.status(id, STATUS.BAD_MESSAGE, bad)
      await ftruncate(fd, attrs.size)
    }
    this.ok(id)
  }

  private async stat(id: number, path: string): Promise<void> {
    const s = await this.session.stat(this.session.resolve(path))
    this.sftp.attrs(id, toAttrs(s))
  }

  private async setstat(id: number, path: string, attrs: Attributes): Promise<void> {
    const v = this.session.resolve(path)
    if (typeof attrs.size === 'number') {
      // Truncating a final file in place would expose a partial file: only uploads may change sizes.
      const s = await this.session.stat(v)
      if (s.size !== attrs.size) return this.sftp.status(id, STATUS.OP_UNSUPPORTED, 'changing the size of a file is not supported')
    }
    if (typeof attrs.mode === 'number') await this.session.chmod(v, attrs.mode)
    if (typeof attrs.atime === 'number' || typeof attrs.mtime === 'number') {
      const s = await this.session.stat(v)
      const at = typeof attrs.atime === 'number' ? new Date(attrs.atime * 1000) : s.atime
      const mt = typeof attrs.mtime === 'number' ? new Date(attrs.mtime * 1000) : s.mtime
      await this.session.setTimes(v, at, mt)
    }
    this.ok(id)
  }

  private async opendir(id: number, path: string): Promise<void> {
    if (this.handles.size >= MAX_HANDLES) return this.sftp.status(id, STATUS.FAILURE, `too many open handles (limit ${MAX_HANDLES})`)
    const entries = await this.session.list(this.session.resolve(path))
    if (!this.closed) this.sftp.handle(id, this.addHandle({kind: 'dir', entries, index: 0}))
  }

  private readdir(id: number, handle: Buffer): void {
    const found = this.lookup(handle)
    if (!found || found.h.kind !== 'dir') return this.badHandle(id)
    const h = found.h
    if (h.index >= h.entries.length) return this.sftp.status(id, STATUS.EOF)
    const batch = h.entries.slice(h.index, h.index + READDIR_BATCH)
    h.index += batch.length
    const owner = this.session.user.name
    const now = Date.now()
    this.sftp.name(id, batch.map((s) => ({filename: s.name, longname: longname(s, owner, now), attrs: toAttrs(s)})))
  }

  private realpath(id: number, path: string): void {
    const v = this.session.resolve(path)
    this.sftp.name(id, [{filename: v, longname: v, attrs: {} as Attributes}])
  }

  private async extended(id: number, name: string, data: Buffer | undefined): Promise<void> {
    const body = data ?? Buffer.alloc(0)
    switch (name) {
      case 'limits@openssh.com': {
        const reply = uint64s([MAX_PACKET, MAX_IO, MAX_IO, MAX_HANDLES])
        if (!sendExtendedReply(this.sftp, id, reply, this.socket)) this.sftp.status(id, STATUS.OP_UNSUPPORTED)
        return
      }
      case 'posix-rename@openssh.com': {
        const a = readString(body, 0)
        const b = a && readString(body, a[1])
        if (!a || !b) return this.sftp.status(id, STATUS.BAD_MESSAGE)
        await this.session.rename(this.session.resolve(a[0].toString('utf8')), this.session.resolve(b[0].toString('utf8')))
        return this.ok(id)
      }
      case 'statvfs@openssh.com': {
        const a = readString(body, 0)
        if (!a) return this.sftp.status(id, STATUS.BAD_MESSAGE)
        const s = await this.session.statfs(this.session.resolve(a[0].toString('utf8')))
        // bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax
        const reply = uint64s([s.blockSize, s.blockSize, s.blocks, s.freeBlocks, s.availableBlocks, s.files, s.freeFiles, s.freeFiles, 0, 0, 255])
        if (!sendExtendedReply(this.sftp, id, reply, this.socket)) this.sftp.status(id, STATUS.FAILURE, 'busy, try again')
        return
      }
      case 'fsync@openssh.com': {
        const a = readString(body, 0)
        const found = a && this.lookup(a[0])
        if (!found || found.h.kind === 'dir') return this.badHandle(id)
        const fd = found.h.file.fd
        await fdatasync(fd)
        return this.ok(id)
      }
      default:
        this.sftp.status(id, STATUS.OP_UNSUPPORTED)
    }
  }
}
