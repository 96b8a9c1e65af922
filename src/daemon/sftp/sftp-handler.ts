// One SFTP channel: maps each SFTP v3 request onto the file session. Requests take effect and are answered
// in the order they arrived (request-queue.ts), as OpenSSH's sftp-server does: clients depend on it.
import fs from 'node:fs'
import type {Socket} from 'node:net'
import {promisify} from 'node:util'
import type {Attributes, SFTPWrapper} from 'ssh2'
import type {Logger} from '../log.js'
import type {DownloadHandle, FileSession, FileStat, UploadHandle} from '../session/types.js'
import {writeFullySync} from '../session/write-fully.js'
import {ChannelFlow, type ConnectionFlow} from './flow-control.js'
import {RequestQueue, type OpKind, type Reply} from './request-queue.js'
import {longname, toAttrs} from './sftp-attrs.js'
import {STATUS, sftpStatusFor} from './sftp-status.js'
import {
  DATA_HEADER, advertiseExtensions, closeChannel, corkDrains, readString, sendData, sendExitStatus, sendExtendedReply, supportsRawReplies, uint64s, versionPacket,
} from './sftp-wire.js'
import {WriteBatcher} from './write-batch.js'

/** Open handles per channel (OpenSSH sftp-server has no limit; unbounded handles would exhaust fds). */
export const MAX_HANDLES = 256
/** Largest READ/WRITE payload we accept and advertise in limits@openssh.com (what OpenSSH's server uses). */
export const MAX_IO = 255 * 1024
/** Largest SFTP packet ssh2 accepts (its _maxInPktLen). */
const MAX_PACKET = 256 * 1024
/** WRITEs up to this size are written synchronously (small files); larger ones overlap in the thread pool. */
const SYNC_WRITE = 16 * 1024
/** Directory entries per READDIR reply. */
const READDIR_BATCH = 128

// fstat, fchmod and futimes on an open descriptor are synchronous: one short call each, where a thread-pool
// hop costs more (a small file's get or put -p waits on each).
const ftruncate = promisify(fs.ftruncate)
const fdatasync = promisify(fs.fdatasync)

const OPEN = {READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 0x10, EXCL: 0x20} as const

const VERSION = versionPacket([
  ['posix-rename@openssh.com', '1'],
  ['statvfs@openssh.com', '2'],
  ['fsync@openssh.com', '1'],
  ['limits@openssh.com', '1'],
])

/** Lookups whose failures are part of normal browsing (sshfs probes names with LSTAT): not logged. */
const QUIET = new Set(['STAT', 'LSTAT', 'FSTAT', 'REALPATH', 'OPENDIR', 'READDIR', 'READLINK', 'statvfs@openssh.com', 'limits@openssh.com'])

type Handle =
  | {kind: 'read'; file: DownloadHandle}
  | {kind: 'write'; file: UploadHandle; append: boolean; position: number; failed: unknown}
  | {kind: 'dir'; entries: FileStat[]; index: number}

/** Who is on the other end, for log lines. */
export interface HandlerContext {
  log: Logger
  address: string
  /** The connection's shared bound on held bytes (one per SSH connection). */
  flow?: ConnectionFlow
}

/**
 * Whether an offset (+ length) from the wire is a byte position we can honour exactly: ssh2 hands uint64s
 * over as imprecise Numbers (or BigInts), and ≥ 2^53 would be rounded, i.e. read or written in the wrong place.
 * (The same function as on branch attack-hardening, so the two merge as one.)
 */
export function badRange(offset: unknown, length: number): string | null {
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(offset + length)) {
    return `offset ${String(offset)} is out of range (the largest supported is 2^53 - 1 bytes)`
  }
  return null
}

/** READ sizes below this get buffers of this size (most clients read 32 KiB; OpenSSH's sftp 255 KiB). */
const SMALL_IO = 32 * 1024

/** Reusable read buffers of two sizes: a READ borrows one and returns it once its reply has left. */
class BufferPool {
  private readonly small: Buffer[] = []
  private readonly large: Buffer[] = []
  take(len: number): Buffer {
    if (len <= SMALL_IO) return this.small.pop() ?? Buffer.allocUnsafeSlow(DATA_HEADER + SMALL_IO)
    return this.large.pop() ?? Buffer.allocUnsafeSlow(DATA_HEADER + MAX_IO)
  }
  give(b: Buffer): void {
    const free = b.length === DATA_HEADER + SMALL_IO ? this.small : this.large
    if (free.length < 40) free.push(b)
  }
}

/** A refusal with its SFTP status (unsupported operations, attributes we do not keep). */
class Refusal extends Error {
  constructor(readonly code: number, message: string) {
    super(message)
  }
}

/** Permission bits kept on user files; setuid, setgid and sticky are refused, never silently dropped. */
function permissionBits(mode: number): number {
  if (mode & 0o7000) throw new Refusal(STATUS.PERMISSION_DENIED, 'setuid, setgid and sticky bits are not allowed on user files (use a mode of 0777 or less)')
  return mode & 0o777
}

export class SftpHandler {
  private readonly handles = new Map<number, Handle>()
  private nextHandle = 1
  private readonly pool = new BufferPool()
  private readonly batcher = new WriteBatcher()
  private readonly queue: RequestQueue
  private readonly flow: ChannelFlow
  private closed = false
  private readonly raw: boolean

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly session: FileSession,
    private readonly socket: Socket | undefined,
    private readonly ctx: HandlerContext,
    private readonly onActivity: () => void = () => {},
  ) {
    this.raw = supportsRawReplies(sftp)
    this.queue = new RequestQueue(() => this.flow.mayStart())
    this.flow = new ChannelFlow(sftp, () => this.queue.pending, () => this.queue.kick(), ctx.flow)
    if (this.raw) {
      advertiseExtensions(sftp, VERSION)
      corkDrains(sftp, socket, () => this.flow.drained())
    }
    const s = this.session
    sftp.on('OPEN', (id, filename, flags, attrs) => this.barrier(id, 'OPEN', () => this.open(id, filename, flags, attrs), filename))
    sftp.on('READ', (id, handle, offset, length) => this.read(id, handle, offset, length))
    sftp.on('WRITE', (id, handle, offset, data) => this.write(id, handle, offset, data))
    sftp.on('CLOSE', (id, handle) => this.barrier(id, 'CLOSE', () => this.close(id, handle)))
    sftp.on('FSTAT', (id, handle) => this.barrier(id, 'FSTAT', () => this.fstat(id, handle)))
    sftp.on('FSETSTAT', (id, handle, attrs) => this.barrier(id, 'FSETSTAT', () => this.fsetstat(id, handle, attrs)))
    sftp.on('STAT', (id, path) => this.barrier(id, 'STAT', () => this.stat(id, path), path))
    sftp.on('LSTAT', (id, path) => this.barrier(id, 'LSTAT', () => this.stat(id, path), path))
    sftp.on('SETSTAT', (id, path, attrs) => this.barrier(id, 'SETSTAT', () => this.setstat(id, path, attrs), path))
    sftp.on('OPENDIR', (id, path) => this.barrier(id, 'OPENDIR', () => this.opendir(id, path), path))
    sftp.on('READDIR', (id, handle) => this.barrier(id, 'READDIR', () => this.readdir(id, handle)))
    sftp.on('REMOVE', (id, path) => this.barrier(id, 'REMOVE', async () => (await s.remove(s.resolve(path)), this.ok(id)), path))
    sftp.on('MKDIR', (id, path) => this.barrier(id, 'MKDIR', async () => (await s.mkdir(s.resolve(path)), this.ok(id)), path))
    sftp.on('RMDIR', (id, path) => this.barrier(id, 'RMDIR', async () => (await s.rmdir(s.resolve(path)), this.ok(id)), path))
    sftp.on('REALPATH', (id, path) => this.barrier(id, 'REALPATH', () => this.realpath(id, path), path))
    sftp.on('RENAME', (id, from, to) => this.barrier(id, 'RENAME', async () => (await s.rename(s.resolve(from), s.resolve(to), {noReplace: true}), this.ok(id)), from))
    // Every request type needs a listener: ssh2 answers unhandled ones at once, ahead of earlier replies.
    sftp.on('READLINK', (id, path) => this.barrier(id, 'READLINK', () => this.refuse(id, 'reading symbolic links is not supported: links inside a home are shown as the files they point to'), path))
    sftp.on('SYMLINK', (id, _target, link) => this.barrier(id, 'SYMLINK', () => this.refuse(id, 'creating symbolic links is not supported: a client-made link could point out of the home'), link))
    sftp.on('EXTENDED', (id, name, data) => this.barrier(id, name, () => this.extended(id, name, data)))
    sftp.on('close', () => void this.dispose())
    // The client sent EOF: finish what it asked for, then exit 0 like sftp-server, which makes sshd close the channel.
    sftp.on('end', () => void this.finishClean())
    // A protocol error (ssh2 closes the channel right after this event): exit status 1, like sftp-server.
    sftp.on('error', (error: Error) => {
      this.ctx.log.warn('sftp protocol error, closing the channel', {user: this.session.user.name, address: this.ctx.address, reason: error.message})
      sendExitStatus(sftp, 1)
      void this.dispose()
    })
  }

  get openHandles(): number {
    return this.handles.size
  }

  /** Client gone: finished downloads close, unfinished uploads keep their part file for a resume. */
  async dispose(): Promise<void> {
    if (this.closed) return
    this.closed = true
    // Requests in flight still use their fds: let them end before the fds are closed (and reused).
    await this.queue.stop()
    this.flow.dispose()
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

  private async finishClean(): Promise<void> {
    await this.queue.whenIdle()
    await this.dispose()
    await closeChannel(this.sftp, 0)
  }

  /** A request that waits for everything before it and holds back everything after it. */
  private barrier(id: number, op: string, task: () => Promise<Reply> | Reply, path?: string): void {
    this.submit('barrier', id, op, task, path)
  }

  private submit(kind: OpKind, id: number, op: string, task: () => Promise<Reply> | Reply, path?: string, range?: {handle: number; start: number; end: number}, held = 0): void {
    this.onActivity()
    if (held > 0) this.flow.takeIn(held)
    this.queue.submit({
      kind,
      ...range,
      run: (done) => {
        // The data a WRITE held counts until its reply leaves (it is kept that long); every reply may let a
        // held window open again.
        const finish = (reply: Reply) => done(() => {
          reply()
          this.flow.answered(held)
        })
        if (this.closed) return finish(() => {})
        let result: Promise<Reply> | Reply
        try {
          result = task()
        } catch (error) {
          return finish(this.failure(id, op, error, path))
        }
        if (typeof result === 'function') return finish(result)
        result.then(finish, (error: unknown) => finish(this.failure(id, op, error, path)))
      },
    })
  }

  /** The status reply for a failed request; failures of the data path are logged at warn. */
  private failure(id: number, op: string, error: unknown, path?: string, quiet = false): Reply {
    const {code, message} = error instanceof Refusal ? {code: error.code, message: error.message} : sftpStatusFor(error)
    if (!quiet && !QUIET.has(op)) {
      this.ctx.log.warn('sftp request failed', {user: this.session.user.name, address: this.ctx.address, op, ...(path === undefined ? {} : {path}), reason: message})
    }
    return () => this.sftp.status(id, code, message)
  }

  private ok(id: number): Reply {
    return () => this.sftp.status(id, STATUS.OK)
  }

  private refuse(id: number, message: string, code: number = STATUS.OP_UNSUPPORTED): Reply {
    throw new Refusal(code, message)
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

  /** The handle of a request, or a refusal naming what is wrong with it. */
  private need(handle: Buffer, ...kinds: Handle['kind'][]): {n: number; h: Handle} {
    const found = this.lookup(handle)
    if (!found) throw new Refusal(STATUS.FAILURE, 'invalid handle (closed or never opened)')
    if (!kinds.includes(found.h.kind)) {
      const what = found.h.kind === 'dir' ? 'a directory handle' : found.h.kind === 'read' ? 'a handle opened for reading only' : 'a file handle'
      throw new Refusal(STATUS.FAILURE, `wrong kind of handle: ${what}`)
    }
    return found
  }

  private async open(id: number, filename: string, flags: number, attrs: Attributes): Promise<Reply> {
    if (this.handles.size >= MAX_HANDLES) throw new Refusal(STATUS.FAILURE, `too many open handles (limit ${MAX_HANDLES})`)
    const v = this.session.resolve(filename)
    let h: Handle
    if (flags & OPEN.WRITE) {
      if (!(flags & OPEN.CREAT)) await this.session.stat(v) // without CREAT the file must exist
      // Creation modes go through the umask as with sshd (022); setuid and friends are refused, not dropped.
      const mode = typeof attrs?.mode === 'number' ? permissionBits(attrs.mode) : undefined
      const file = await this.session.openWrite(v, {
        exclusive: Boolean(flags & OPEN.EXCL),
        append: Boolean(flags & OPEN.APPEND),
        keepExisting: !(flags & (OPEN.TRUNC | OPEN.APPEND)),
        mode,
      })
      h = {kind: 'write', file, append: Boolean(flags & OPEN.APPEND), position: file.startOffset, failed: undefined}
    } else {
      h = {kind: 'read', file: await this.session.openRead(v)}
    }
    if (this.closed) {
      if (h.kind === 'read') await h.file.close()
      else await h.file.abort(true)
      return () => {}
    }
    const b = this.addHandle(h)
    return () => this.sftp.handle(id, b)
  }

  private read(id: number, handle: Buffer, offset: number, length: number): void {
    this.submit('read', id, 'READ', () => {
      const found = this.need(handle, 'read', 'write')
      const h = found.h as Exclude<Handle, {kind: 'dir'}>
      const len = Math.min(length, MAX_IO)
      const bad = badRange(offset, len)
      if (bad) throw new Refusal(STATUS.BAD_MESSAGE, bad)
      const arriving = h.kind === 'read' ? h.file.available?.(offset + len) : undefined
      const buf = this.pool.take(len)
      this.flow.takeOut(buf.length)
      const give = () => {
        this.pool.give(buf)
        this.flow.releaseOut(buf.length)
      }
      return (arriving ?? Promise.resolve()).then(() => new Promise<Reply>((resolve, reject) => {
        fs.read(h.file.fd, buf, DATA_HEADER, len, offset, (err, n) => {
          if (err) {
            give()
            return reject(err)
          }
          if (n === 0) {
            give()
            return resolve(() => this.sftp.status(id, STATUS.EOF))
          }
          resolve(() => {
            if (!this.raw) {
              this.sftp.data(id, buf.subarray(DATA_HEADER, DATA_HEADER + n))
              return give()
            }
            // Sent now, the buffer is free; queued in ssh2, it counts there (ChannelFlow.outBytes) instead.
            if (sendData(this.sftp, id, buf, n, this.socket)) this.pool.give(buf)
            this.flow.releaseOut(buf.length)
          })
        })
      }), (error: unknown) => {
        give()
        throw error
      })
    }, undefined)
  }

  private write(id: number, handle: Buffer, offset: number, data: Buffer): void {
    const n = handle.length === 4 ? handle.readUInt32BE(0) : -1
    this.submit('write', id, 'WRITE', () => {
      const h = this.need(handle, 'write').h as Extract<Handle, {kind: 'write'}>
      // After a failed write the upload can never be committed: answer the rest at once.
      if (h.failed !== undefined) return this.failure(id, 'WRITE', h.failed, h.file.virtualPath, true)
      const bad = badRange(offset, data.length)
      if (bad) throw new Refusal(STATUS.BAD_MESSAGE, bad)
      let position = offset
      if (h.append) {
        position = h.position
        h.position += data.length
      }
      if (data.length <= SYNC_WRITE) {
        // A small write lands in the page cache in microseconds: a thread-pool hop would cost more.
        try {
          writeFullySync(h.file.fd, data, position)
          h.file.wrote?.(position, data.length)
          return this.ok(id)
        } catch (err) {
          const first = h.failed === undefined
          h.failed ??= err
          return this.failure(id, 'WRITE', err, h.file.virtualPath, !first)
        }
      }
      return new Promise<Reply>((resolve) => {
        this.batcher.write(h.file.fd, position, data, (err) => {
          if (!err) {
            h.file.wrote?.(position, data.length)
            return resolve(this.ok(id))
          }
          const first = h.failed === undefined
          h.failed ??= err
          resolve(this.failure(id, 'WRITE', err, h.file.virtualPath, !first))
        })
      })
    }, undefined, {handle: n, start: offset, end: offset + data.length}, data.length)
  }

  private async close(id: number, handle: Buffer): Promise<Reply> {
    const found = this.need(handle, 'read', 'write', 'dir')
    this.handles.delete(found.n)
    const h = found.h
    if (h.kind === 'read') await h.file.close()
    if (h.kind === 'write') {
      // A failed write (disk full…) must not become a truncated file under the final name.
      if (h.failed !== undefined) {
        await h.file.abort(false)
        this.ctx.log.warn('upload not committed: an earlier write failed', {user: this.session.user.name, address: this.ctx.address, path: h.file.virtualPath})
        throw h.failed
      }
      await h.file.commit()
    }
    return this.ok(id)
  }

  private async fstat(id: number, handle: Buffer): Promise<Reply> {
    const h = this.need(handle, 'read', 'write').h as Exclude<Handle, {kind: 'dir'}>
    const s = fs.fstatSync(h.file.fd)
    const attrs = {mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, atime: Math.floor(s.atimeMs / 1000), mtime: Math.floor(s.mtimeMs / 1000)}
    return () => this.sftp.attrs(id, attrs)
  }

  /** Owner and group cannot change (one system account holds every file); asking for the same ones is fine. */
  private checkOwner(attrs: Attributes, current: {uid: number; gid: number}): void {
    const uid = typeof attrs.uid === 'number' && attrs.uid !== current.uid
    const gid = typeof attrs.gid === 'number' && attrs.gid !== current.gid
    if (uid || gid) throw new Refusal(STATUS.OP_UNSUPPORTED, 'changing the owner or group of a file is not supported (chown/chgrp)')
  }

  private async fsetstat(id: number, handle: Buffer, attrs: Attributes): Promise<Reply> {
    const h = this.need(handle, 'read', 'write').h as Exclude<Handle, {kind: 'dir'}>
    if (h.kind === 'read') return this.setstat(id, h.file.virtualPath, attrs)
    // An upload's attributes go to its part file; they become the final file's on commit.
    const fd = h.file.fd
    const st = fs.fstatSync(fd)
    this.checkOwner(attrs, st)
    const wantsMode = typeof attrs.mode === 'number'
    const wantsTimes = typeof attrs.atime === 'number' || typeof attrs.mtime === 'number'
    if (wantsMode && !this.session.can('chmod')) throw new Refusal(STATUS.PERMISSION_DENIED, `${h.file.virtualPath}: permission denied (needs "chmod")`)
    const mode = wantsMode ? permissionBits(attrs.mode) : 0
    if (attrs.size !== undefined) {
      const bad = badRange(attrs.size, 0)
      if (bad) throw new Refusal(STATUS.BAD_MESSAGE, bad)
      await ftruncate(fd, attrs.size)
      h.file.resized?.(attrs.size)
    }
    if (wantsMode) fs.fchmodSync(fd, mode)
    if (wantsTimes) {
      const now = Date.now() / 1000
      h.file.setTimes(attrs.atime ?? now, attrs.mtime ?? now)
    }
    return this.ok(id)
  }

  private async stat(id: number, path: string): Promise<Reply> {
    const attrs = toAttrs(await this.session.stat(this.session.resolve(path)))
    return () => this.sftp.attrs(id, attrs)
  }

  private async setstat(id: number, path: string, attrs: Attributes): Promise<Reply> {
    const v = this.session.resolve(path)
    const s = await this.session.stat(v)
    this.checkOwner(attrs, s)
    const mode = typeof attrs.mode === 'number' ? permissionBits(attrs.mode) : undefined
    if (attrs.size !== undefined && attrs.size !== s.size) {
      const bad = badRange(attrs.size, 0)
      if (bad) throw new Refusal(STATUS.BAD_MESSAGE, bad)
      await this.truncate(v, attrs.size)
    }
    if (mode !== undefined) await this.session.chmod(v, mode)
    if (typeof attrs.atime === 'number' || typeof attrs.mtime === 'number') {
      const at = typeof attrs.atime === 'number' ? new Date(attrs.atime * 1000) : s.atime
      const mt = typeof attrs.mtime === 'number' ? new Date(attrs.mtime * 1000) : s.mtime
      await this.session.setTimes(v, at, mt)
    }
    return this.ok(id)
  }

  /** Truncate (or extend) through an upload of the changed content: readers never see a half-changed file. */
  private async truncate(v: string, size: number): Promise<void> {
    const up = await this.session.openWrite(v, {keepExisting: true})
    try {
      await ftruncate(up.fd, size)
    } catch (error) {
      await up.abort(false)
      throw error
    }
    await up.commit()
  }

  private async opendir(id: number, path: string): Promise<Reply> {
    if (this.handles.size >= MAX_HANDLES) throw new Refusal(STATUS.FAILURE, `too many open handles (limit ${MAX_HANDLES})`)
    const entries = await this.session.list(this.session.resolve(path))
    if (this.closed) return () => {}
    const b = this.addHandle({kind: 'dir', entries, index: 0})
    return () => this.sftp.handle(id, b)
  }

  private readdir(id: number, handle: Buffer): Reply {
    const h = this.need(handle, 'dir').h as Extract<Handle, {kind: 'dir'}>
    if (h.index >= h.entries.length) return () => this.sftp.status(id, STATUS.EOF)
    const batch = h.entries.slice(h.index, h.index + READDIR_BATCH)
    h.index += batch.length
    const owner = this.session.user.name
    const now = Date.now()
    const names = batch.map((s) => ({filename: s.name, longname: longname(s, owner, now), attrs: toAttrs(s)}))
    return () => this.sftp.name(id, names)
  }

  private realpath(id: number, path: string): Reply {
    const v = this.session.resolve(path)
    return () => this.sftp.name(id, [{filename: v, longname: v, attrs: {} as Attributes}])
  }

  private async extended(id: number, name: string, data: Buffer | undefined): Promise<Reply> {
    const body = data ?? Buffer.alloc(0)
    const strings = (count: number): string[] => {
      const out: string[] = []
      let pos = 0
      for (let k = 0; k < count; k++) {
        const s = readString(body, pos)
        if (!s) throw new Refusal(STATUS.BAD_MESSAGE, `malformed ${name} request`)
        out.push(s[0].toString('utf8'))
        pos = s[1]
      }
      return out
    }
    switch (name) {
      case 'limits@openssh.com': {
        const reply = uint64s([MAX_PACKET, MAX_IO, MAX_IO, MAX_HANDLES])
        return () => {
          if (!sendExtendedReply(this.sftp, id, reply, this.socket)) this.sftp.status(id, STATUS.FAILURE, 'busy, try again')
        }
      }
      case 'posix-rename@openssh.com': {
        const [a, b] = strings(2)
        await this.session.rename(this.session.resolve(a), this.session.resolve(b))
        return this.ok(id)
      }
      case 'statvfs@openssh.com': {
        const [a] = strings(1)
        const s = await this.session.statfs(this.session.resolve(a))
        // bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax
        const reply = uint64s([s.blockSize, s.blockSize, s.blocks, s.freeBlocks, s.availableBlocks, s.files, s.freeFiles, s.freeFiles, 0, 0, 255])
        return () => {
          if (!sendExtendedReply(this.sftp, id, reply, this.socket)) this.sftp.status(id, STATUS.FAILURE, 'busy, try again')
        }
      }
      case 'fsync@openssh.com': {
        const a = readString(body, 0)
        if (!a) throw new Refusal(STATUS.BAD_MESSAGE, `malformed ${name} request`)
        const h = this.need(a[0], 'read', 'write').h as Exclude<Handle, {kind: 'dir'}>
        await fdatasync(h.file.fd)
        return this.ok(id)
      }
      case 'hardlink@openssh.com':
        return this.refuse(id, 'hardlink@openssh.com is not supported: hard links do not carry over to the storages a cluster may use (shared mounts, copies kept in sync between nodes); copy the file instead')
      default:
        return this.refuse(id, `extension "${name}" is not supported (supported: posix-rename, statvfs, fsync, limits @openssh.com)`)
    }
  }
}
