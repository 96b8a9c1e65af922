// A user's view of the striped tree on the gateway: the FileSession the FTP engine's metadata verbs (LIST,
// MLSD, NLST, SIZE, MDTM, MFMT, DELE, RNFR/RNTO, MKD, RMD, STAT, CWD) run on, answered from the catalogue so
// they work while a node is down. The user's "/" is their home inside the cluster-wide tree. Changes go to
// the catalogue (durable) and to the nodes holding pieces; data transfers are the gateway's own verbs.
import path from 'node:path'
import type {Permission, User} from '../config/schema.js'
import {fileError} from '../daemon/session/file-errors.js'
import {normalizeVirtual} from '../daemon/session/path-jail.js'
import {hasPermission, requirePermission} from '../daemon/session/permissions.js'
import {createHash, randomBytes} from 'node:crypto'
import fsCb, {promises as fs} from 'node:fs'
import type {DownloadHandle, FileSession, FileStat, OpenWriteOptions, RenameOptions, UploadHandle} from '../daemon/session/types.js'
import type {Gateway} from './chain.js'
import {dropStale, finishChain, startChain} from './chain.js'
import type {Socket} from 'node:net'
import {Throttle, acceptOne, newToken, receivePiece, sendPiece, writeAll} from './data-path.js'
import {writeFully} from '../daemon/session/write-fully.js'
import type {Replica} from './chain.js'
import {CatalogueError} from './catalogue.js'
import type {CatalogueEntry} from './contract.js'
import {isReservedName} from './piece-store.js'

/** What a session needs from the gateway (its catalogue, links, placement and relay address). */
export type GatewayCore = Gateway

/** The gateway's own staging copies are not throttled: the nodes' caps apply on their side. */
const UNTHROTTLED = new Throttle(null)

/**
 * Forwards an SFTP upload to its replication chain while it arrives, so CLOSE waits for the last bytes, not
 * for a second copy of the whole file. Writes land in the spool first (the client may write in any order);
 * what is contiguous from offset 0 is sent. A write or truncation below what was already sent, or a chain
 * that fails, makes it give up: the chain is cancelled and commit sends the whole spool the old way.
 */
class Forwarder {
  private filled = 0
  private sent = 0
  private readonly ahead = new Map<number, number>()
  private chain: Promise<{socket: Socket; replicas: Replica[]}> | null = null
  private pump: Promise<void> = Promise.resolve()
  private broken = false

  constructor(
    private readonly fd: number,
    private readonly open: () => Promise<{socket: Socket; replicas: Replica[]}>,
    private readonly log: GatewayCore['log'],
    private readonly what: string,
  ) {}

  wrote(offset: number, length: number): void {
    if (this.broken || length === 0) return
    if (offset < this.sent) return this.giveUp('a write changed bytes already forwarded')
    const end = offset + length
    if (offset <= this.filled) this.filled = Math.max(this.filled, end)
    else this.ahead.set(offset, Math.max(end, this.ahead.get(offset) ?? 0))
    for (let next = this.ahead.get(this.filled); next !== undefined; next = this.ahead.get(this.filled)) {
      this.ahead.delete(this.filled)
      this.filled = Math.max(this.filled, next)
    }
    this.kick()
  }

  resized(size: number): void {
    if (size < this.sent) this.giveUp('the upload was truncated below what was already forwarded')
    if (size < this.filled) this.filled = size
  }

  /** The chain with everything up to `size` sent, or null: commit then sends the spool whole. */
  async complete(size: number): Promise<Replica[] | null> {
    if (this.broken || !this.chain) return this.drop()
    this.filled = size // the spool is durable and whole now (fsynced by the caller)
    this.kick()
    await this.pump
    if (this.broken || this.sent !== size) return this.drop()
    const {socket, replicas} = await this.chain
    socket.end()
    return replicas
  }

  async cancel(): Promise<void> {
    this.broken = true
    await this.drop()
  }

  private giveUp(why: string): void {
    if (this.broken) return
    this.broken = true
    this.log.info('striped SFTP upload: forwarding while it arrives stopped; the whole file is sent at close', {path: this.what, reason: why})
    void this.drop()
  }

  private async drop(): Promise<null> {
    const chain = this.chain
    this.chain = null
    this.broken = true
    if (chain) {
      const open = await chain.catch(() => null)
      if (open) {
        open.replicas.forEach((r) => r.link.cancel(r.id))
        open.socket.destroy()
      }
    }
    return null
  }

  private kick(): void {
    if (this.broken || this.filled <= this.sent) return
    this.chain ??= this.open()
    this.pump = this.pump.then(() => this.send()).catch((error: Error) => this.giveUp(error.message))
  }

  private async send(): Promise<void> {
    if (this.broken || !this.chain) return
    const {socket} = await this.chain
    while (!this.broken && this.sent < this.filled) {
      const n = Math.min(this.filled - this.sent, 1024 * 1024)
      const buf = Buffer.allocUnsafe(n)
      const {bytesRead} = await readAt(this.fd, buf, this.sent)
      if (bytesRead === 0) throw new Error('the spool is shorter than what was written')
      if (this.broken) return
      await writeAll(socket, buf.subarray(0, bytesRead))
      this.sent += bytesRead
    }
  }
}

function readAt(fd: number, buf: Buffer, position: number): Promise<{bytesRead: number}> {
  return new Promise((resolve, reject) => fsCb.read(fd, buf, 0, buf.length, position, (err, bytesRead) => (err ? reject(err) : resolve({bytesRead}))))
}

/** How much of a relayed download has arrived; readers wait on it. */
class Arrival {
  have = 0
  private error: Error | null = null
  private finished = false
  private waiters: {end: number; resolve: () => void; reject: (e: Error) => void}[] = []
  private startResolve!: () => void
  private startReject!: (e: Error) => void
  readonly started = new Promise<void>((resolve, reject) => ((this.startResolve = resolve), (this.startReject = reject)))

  constructor(private readonly size: number) {
    this.started.catch(() => {})
  }

  start(): void {
    this.startResolve()
  }

  add(n: number): void {
    this.have += n
    this.wake()
  }

  done(): void {
    this.finished = true
    this.startResolve()
    this.wake()
  }

  fail(error: Error): void {
    if (!this.finished && !this.error) this.error = error
    this.startReject(error)
    this.wake()
  }

  /** Resolves when [0, end) is here (bounded by the size); rejects if it never will be. */
  until(end: number): Promise<void> {
    const want = Math.min(end, this.size)
    if (this.finished || this.have >= want) return Promise.resolve()
    if (this.error) return Promise.reject(this.error)
    return new Promise((resolve, reject) => this.waiters.push({end: want, resolve, reject}))
  }

  private wake(): void {
    const keep: typeof this.waiters = []
    for (const w of this.waiters) {
      if (this.finished || this.have >= w.end) w.resolve()
      else if (this.error) w.reject(this.error)
      else keep.push(w)
    }
    this.waiters = keep
  }
}

export class GatewaySession implements FileSession {
  private currentUser: User
  readonly home: string

  constructor(user: User, private readonly core: GatewayCore) {
    this.currentUser = user
    this.home = normalizeVirtual(user.home)
  }

  get user(): User {
    return this.currentUser
  }

  updateUser(user: User): void {
    this.currentUser = user
  }

  can(permission: Permission): boolean {
    return hasPermission(this.currentUser, permission)
  }

  resolve(clientPath: string, cwd = '/'): string {
    const v = normalizeVirtual(clientPath, cwd)
    if (v.split('/').some((p) => isReservedName(p))) throw fileError('invalid-path', v, 'names of the form .NAME.stripe-meta / .stripe-part are reserved')
    return v
  }

  /** The catalogue path of a virtual path of this user. */
  cat(virtualPath: string): string {
    const v = normalizeVirtual(virtualPath)
    return v === '/' ? this.home : path.posix.join(this.home, v)
  }

  entry(virtualPath: string): CatalogueEntry | undefined {
    const c = this.cat(virtualPath)
    return this.core.catalogue.get(c) ?? (c === this.home || c === '/' ? homeEntry(c) : undefined)
  }

  /** Live node ids of an entry (links up). */
  liveNodes(e: CatalogueEntry): string[] {
    return e.nodes.filter((n) => this.core.links.get(n)?.up)
  }

  private toStat(e: CatalogueEntry): FileStat {
    const mtime = new Date(e.mtimeMs)
    // a file none of whose nodes is up is listed without read bits: the client sees it exists but is offline
    const mode = e.type === 'dir' ? 0o40755 : this.liveNodes(e).length > 0 ? 0o100644 : 0o100000
    return {name: e.path === this.home ? '/' : path.posix.basename(e.path), size: e.size, mtime, atime: mtime, mode, isDirectory: e.type === 'dir', isFile: e.type === 'file', isSymlink: false, uid: 0, gid: 0}
  }

  async stat(virtualPath: string): Promise<FileStat> {
    requirePermission(this.currentUser, 'list', virtualPath)
    const e = this.entry(virtualPath)
    if (!e) throw fileError('not-found', virtualPath)
    return this.toStat(e)
  }

  async list(virtualPath: string): Promise<FileStat[]> {
    requirePermission(this.currentUser, 'list', virtualPath)
    const e = this.entry(virtualPath)
    if (!e) throw fileError('not-found', virtualPath)
    if (e.type !== 'dir') throw fileError('not-directory', virtualPath)
    const c = this.cat(virtualPath)
    // a home nobody has written to yet exists only implicitly
    if (!this.core.catalogue.get(c)) return []
    return guard(virtualPath, () => this.core.catalogue.list(c)).map((x) => this.toStat(x))
  }

  /** A spool file under the gateway's data dir, unlinked at once for reads (the fd keeps it). */
  private async spool(): Promise<{path: string; handle: fs.FileHandle}> {
    await fs.mkdir(this.core.spoolDir, {recursive: true, mode: 0o700})
    const file = path.join(this.core.spoolDir, randomBytes(8).toString('hex'))
    return {path: file, handle: await fs.open(file, 'w+', 0o600)}
  }

  /** Copies a file's content from one of its live nodes (relay socket, one-time token) into `fd`, checked
   *  against the catalogue's size and SHA-256. */
  private async fetch(virtualPath: string, e: CatalogueEntry, fd: number): Promise<void> {
    const c = this.cat(virtualPath)
    let last: Error | null = null
    for (const id of this.liveNodes(e)) {
      const link = this.core.links.get(id)!
      const token = newToken()
      const pending = await acceptOne(this.core.bind, link.node.host, token, this.core.dataTimeoutMs)
      const call = link.send({path: c, offset: 0, endpoint: {connect: {host: this.core.bind, port: pending.port, token}}, tls: false})
      call.result.catch(() => pending.cancel())
      try {
        const socket = await pending.socket
        const hash = createHash('sha256')
        const size = await receivePiece(fd, 0, socket, hash, UNTHROTTLED, null)
        await call.result
        const sha256 = hash.digest('hex')
        if (size !== e.size || (e.sha256 && sha256 !== e.sha256)) throw new Error(`storage node ${link.name} sent ${size} bytes that do not match the catalogue`)
        return
      } catch (error) {
        link.cancel(call.id)
        last = error as Error
      }
    }
    throw fileError(last ? 'io' : 'busy', virtualPath, last?.message ?? `its storage node ${e.nodes.join(', ')} is down`)
  }

  /**
   * A download relays a node's copy as it arrives: OPEN answers once a node is sending, each READ waits for
   * its bytes (not for the whole file). A copy cut off mid-way is continued from the next live node at the
   * same offset; the SHA-256 of the whole is checked against the catalogue at the end, and a mismatch fails
   * the reads that are left. The spool file is unlinked at once (the fd keeps it) and gone at close.
   */
  async openRead(virtualPath: string): Promise<DownloadHandle> {
    requirePermission(this.currentUser, 'download', virtualPath)
    const e = this.entry(virtualPath)
    if (!e) throw fileError('not-found', virtualPath)
    if (e.type !== 'file') throw fileError('is-directory', virtualPath)
    if (this.liveNodes(e).length === 0) throw fileError('busy', virtualPath, `its storage node ${e.nodes.join(', ')} is down`)
    const {path: file, handle} = await this.spool()
    await fs.rm(file, {force: true})
    const arrival = new Arrival(e.size)
    const state = {closed: false, socket: null as Socket | null}
    // the fd is closed only once the copy loop has stopped: a late write must never land on a reused fd
    const streaming = this.stream(virtualPath, e, handle.fd, arrival, state).catch((error: Error) => arrival.fail(error))
    const stop = async () => {
      state.closed = true
      state.socket?.destroy()
      arrival.fail(new Error('closed'))
      await streaming
      await handle.close()
    }
    try {
      await arrival.started
    } catch (error) {
      await stop()
      throw error
    }
    return {
      virtualPath,
      realPath: '(striped)',
      fd: handle.fd,
      size: e.size,
      available: (end) => arrival.until(end),
      close: stop,
    }
  }

  /** Fills `fd` from the entry's live nodes in turn, continuing at the offset reached; checks the hash at the end. */
  private async stream(virtualPath: string, e: CatalogueEntry, fd: number, arrival: Arrival, state: {closed: boolean; socket: Socket | null}): Promise<void> {
    const hash = createHash('sha256')
    let last: Error | null = null
    try {
      for (const id of this.liveNodes(e)) {
        if (state.closed) return
        const link = this.core.links.get(id)!
        const token = newToken()
        const pending = await acceptOne(this.core.bind, link.node.host, token, this.core.dataTimeoutMs)
        const call = link.send({path: this.cat(virtualPath), offset: arrival.have, endpoint: {connect: {host: this.core.bind, port: pending.port, token}}, tls: false})
        call.result.catch(() => pending.cancel())
        try {
          const socket = await pending.socket
          state.socket = socket
          if (state.closed) return void socket.destroy()
          this.core.log.info('striped SFTP read relayed', {path: virtualPath, node: link.name, from: arrival.have})
          arrival.start()
          let ended = false
          socket.once('end', () => (ended = true))
          for await (const chunk of socket as AsyncIterable<Buffer>) {
            if (state.closed) {
              socket.destroy()
              link.cancel(call.id)
              return
            }
            if (arrival.have + chunk.length > e.size) throw new Error(`storage node ${link.name} sent more than the catalogue's ${e.size} bytes`)
            await writeFully(fd, chunk, arrival.have)
            hash.update(chunk)
            arrival.add(chunk.length)
          }
          if (!ended) throw new Error(`storage node ${link.name} closed the data connection at byte ${arrival.have}`)
          await call.result
          if (arrival.have !== e.size) throw new Error(`storage node ${link.name} sent ${arrival.have} of ${e.size} bytes`)
          const sha256 = hash.digest('hex')
          if (e.sha256 && sha256 !== e.sha256) throw new Error(`the copy on ${link.name} does not match the catalogue's SHA-256`)
          return arrival.done()
        } catch (error) {
          link.cancel(call.id)
          last = error as Error
          if (state.closed) return
          this.core.log.warn('striped SFTP read: a copy failed; continuing from the next node', {path: virtualPath, node: link.name, at: arrival.have, error: last.message})
          if (/SHA-256/.test(last.message)) break // the bytes sent are wrong: another node cannot fix the prefix
        }
      }
    } finally {
      arrival.fail(fileError(last ? 'io' : 'busy', virtualPath, last?.message ?? `its storage node ${e.nodes.join(', ')} is down`))
    }
  }

  /** SFTP writes land in a spool file at the gateway; CLOSE sends it through the replication chain and
   *  answers only once every copy is durable and the catalogue has it. */
  async openWrite(virtualPath: string, options: OpenWriteOptions = {}): Promise<UploadHandle> {
    const e = this.entry(virtualPath)
    if (e?.type === 'dir') throw fileError('is-directory', virtualPath)
    if (e && options.exclusive) throw fileError('exists', virtualPath)
    requirePermission(this.currentUser, e ? 'overwrite' : 'upload', virtualPath)
    const parent = this.entry(path.posix.dirname(virtualPath))
    if (!parent || parent.type !== 'dir') throw fileError('not-found', virtualPath)
    const c = this.cat(virtualPath)
    if (this.core.busy.has(c)) throw fileError('busy', virtualPath)
    const {path: file, handle} = await this.spool()
    let start = 0
    try {
      if (e && (options.append || options.keepExisting || (options.offset ?? 0) > 0)) {
        await this.fetch(virtualPath, e, handle.fd)
        start = options.append ? e.size : Math.min(options.offset ?? 0, e.size)
        if (!options.append && !options.keepExisting) await handle.truncate(start)
      }
    } catch (error) {
      await handle.close()
      await fs.rm(file, {force: true})
      throw error
    }
    this.core.busy.add(c)
    // a new content written from its start is forwarded to the chain while it arrives (see Forwarder)
    const forwarder = start === 0 ? new Forwarder(handle.fd, () => this.openChain(virtualPath, e), this.core.log, virtualPath) : null
    let closed = false
    const finish = async () => {
      if (closed) return
      closed = true
      this.core.busy.delete(c)
      await forwarder?.cancel()
      await handle.close().catch(() => {})
      await fs.rm(file, {force: true})
    }
    return {
      virtualPath,
      fd: handle.fd,
      tempPath: file,
      startOffset: start,
      wrote: (offset, length) => forwarder?.wrote(offset, length),
      resized: (size) => forwarder?.resized(size),
      setTimes: (atime, mtime) => fsCb.futimesSync(handle.fd, atime, mtime),
      abort: () => finish(),
      commit: async () => {
        try {
          await handle.sync()
          const size = (await handle.stat()).size
          const replicas = forwarder ? await forwarder.complete(size) : null
          let sealed = false
          if (replicas) {
            try {
              await this.seal(virtualPath, e, replicas)
              sealed = true
              this.core.log.info('striped SFTP upload forwarded while it arrived', {path: virtualPath, size})
            } catch (error) {
              // a chain that failed late (a node's data timeout during a slow upload): send the spool whole
              this.core.log.warn('striped SFTP upload: the forwarded copy failed; sending the file again', {path: virtualPath, error: (error as Error).message})
            }
          }
          if (!sealed) await this.upload(virtualPath, this.entry(virtualPath) ?? e, handle.fd)
        } finally {
          await finish()
        }
      },
    }
  }

  /** Places a new content and opens the replication chain to it: the first node's data socket and the replicas. */
  private async openChain(virtualPath: string, before: CatalogueEntry | undefined, tried = new Set<string>()): Promise<{socket: Socket; replicas: Replica[]}> {
    const c = this.cat(virtualPath)
    let last: Error | null = null
    for (let attempt = 0; attempt < 3; attempt++) {
      const nodes = this.core.choose(0, tried).map((id) => this.core.links.get(id)!).filter(Boolean)
      if (nodes.length === 0) break
      const token = newToken()
      const pending = await acceptOne(this.core.bind, nodes[0].node.host, token, this.core.dataTimeoutMs)
      let replicas: Replica[]
      try {
        replicas = await startChain(nodes, {path: c, offset: 0, owner: before?.owner ?? this.currentUser.name, generation: this.core.catalogue.nextGeneration(), tls: false}, {connect: {host: this.core.bind, port: pending.port, token}}, () => {})
      } catch (error) {
        pending.cancel()
        nodes.forEach((n) => tried.add(n.node.nodeId))
        last = error as Error
        continue
      }
      try {
        return {socket: await pending.socket, replicas}
      } catch (error) {
        replicas.forEach((r) => r.link.cancel(r.id))
        nodes.forEach((n) => tried.add(n.node.nodeId))
        last = error as Error
      }
    }
    throw fileError(last ? 'io' : 'no-space', virtualPath, last?.message ?? 'no storage node can take the file')
  }

  /** Waits for every copy to be durable and identical, then records the file in the catalogue. */
  private async seal(virtualPath: string, before: CatalogueEntry | undefined, replicas: Replica[]): Promise<void> {
    const c = this.cat(virtualPath)
    const {pieces, failed} = await finishChain(() => true, replicas)
    if (pieces.length > 0) {
      const p = pieces[0].piece
      const entry = guard(virtualPath, () => this.core.catalogue.putFile({path: c, size: p.size, mtimeMs: p.mtimeMs, owner: before?.owner ?? this.currentUser.name, sha256: p.sha256, nodes: pieces.map((x) => x.nodeId)}))
      for (const id of entry.nodes) this.core.stored(id, p.size - (before?.nodes.includes(id) ? before.size : 0))
      await dropStale(this.core, before, entry)
    }
    if (failed.length > 0) throw fileError('io', virtualPath, `only ${pieces.length} of ${replicas.length} copies are durable`)
  }

  /** Sends a whole spooled file through the chain of newly placed nodes (skipping any that fail), then records it. */
  private async upload(virtualPath: string, before: CatalogueEntry | undefined, fd: number): Promise<void> {
    const {socket, replicas} = await this.openChain(virtualPath, before)
    try {
      await sendPiece(fd, 0, socket, UNTHROTTLED)
      socket.end()
    } catch (error) {
      replicas.forEach((r) => r.link.cancel(r.id))
      throw fileError('io', virtualPath, (error as Error).message)
    }
    await this.seal(virtualPath, before, replicas)
  }

  async mkdir(virtualPath: string): Promise<void> {
    requirePermission(this.currentUser, 'mkdir', virtualPath)
    if (this.entry(virtualPath)) throw fileError('exists', virtualPath)
    const parent = this.entry(path.posix.dirname(virtualPath))
    if (!parent) throw fileError('not-found', virtualPath)
    if (parent.type !== 'dir') throw fileError('not-directory', virtualPath)
    const c = this.cat(virtualPath)
    guard(virtualPath, () => this.core.catalogue.mkdir(c, this.currentUser.name))
    // empty directories exist on the nodes too, so a rescan finds them; a down node learns it at remerge
    await Promise.allSettled(this.core.links.all().filter((l) => l.up).map((l) => l.mkdir(c)))
  }

  async rmdir(virtualPath: string): Promise<void> {
    requirePermission(this.currentUser, 'delete', virtualPath)
    const e = this.entry(virtualPath)
    if (!e) throw fileError('not-found', virtualPath)
    if (e.type !== 'dir') throw fileError('not-directory', virtualPath)
    const c = this.cat(virtualPath)
    if (c === this.home) throw fileError('permission', virtualPath, 'the home directory cannot be removed')
    guard(virtualPath, () => this.core.catalogue.remove(c))
    await Promise.allSettled(this.core.links.all().filter((l) => l.up).map((l) => l.rmdir(c)))
  }

  async remove(virtualPath: string): Promise<void> {
    requirePermission(this.currentUser, 'delete', virtualPath)
    const e = this.entry(virtualPath)
    if (!e) throw fileError('not-found', virtualPath)
    if (e.type === 'dir') throw fileError('is-directory', virtualPath)
    const c = this.cat(virtualPath)
    if (this.core.busy.has(c)) throw fileError('busy', virtualPath)
    // the catalogue is the truth: once it forgets the file, a piece left on a down node is surplus at remerge
    guard(virtualPath, () => this.core.catalogue.remove(c))
    await Promise.allSettled(e.nodes.map((n) => this.core.links.get(n)?.remove(c)))
  }

  async rename(from: string, to: string, options: RenameOptions = {}): Promise<void> {
    requirePermission(this.currentUser, 'rename', from)
    const e = this.entry(from)
    if (!e) throw fileError('not-found', from)
    const src = this.cat(from)
    const dst = this.cat(to)
    if (src === this.home) throw fileError('permission', from, 'the home directory cannot be renamed')
    if (dst === src) return
    if (dst.startsWith(src + '/')) throw fileError('invalid-path', to, 'a directory cannot move into itself')
    const target = this.entry(to)
    if (target?.type === 'dir' || (target && options.noReplace)) throw fileError('exists', to)
    if (target && !this.can('overwrite')) throw fileError('permission', to, 'permission denied (needs "overwrite")')
    const parent = this.entry(path.posix.dirname(to))
    if (!parent || parent.type !== 'dir') throw fileError('not-found', to)
    if (this.core.busy.has(src) || this.core.busy.has(dst)) throw fileError('busy', from)
    // every node that may hold a piece under the name must take the rename now, or its copy would be
    // orphaned: refuse while one of them is down (the client may retry)
    const involved = e.type === 'file' ? e.nodes : this.core.links.all().map((l) => l.node.nodeId)
    const down = involved.filter((n) => !this.core.links.get(n)?.up)
    if (down.length > 0) throw fileError('busy', from, `storage node ${down.join(', ')} is down`)
    const generation = this.core.catalogue.nextGeneration()
    const done: string[] = []
    try {
      for (const n of involved) {
        await this.core.links.get(n)!.rename(src, dst, generation)
        done.push(n)
      }
    } catch (error) {
      await Promise.allSettled(done.map((n) => this.core.links.get(n)!.rename(dst, src, generation)))
      throw fileError('io', from, (error as Error).message)
    }
    if (target) {
      guard(to, () => this.core.catalogue.remove(dst))
      const stale = target.nodes.filter((n) => !involved.includes(n))
      await Promise.allSettled(stale.map((n) => this.core.links.get(n)?.remove(dst)))
    }
    guard(from, () => this.core.catalogue.rename(src, dst))
  }

  async chmod(virtualPath: string): Promise<void> {
    throw fileError('permission', virtualPath, 'modes are not kept for striped files')
  }

  async setTimes(virtualPath: string, _atime: Date, mtime: Date): Promise<void> {
    requirePermission(this.currentUser, 'overwrite', virtualPath)
    const e = this.entry(virtualPath)
    if (!e) throw fileError('not-found', virtualPath)
    const c = this.cat(virtualPath)
    guard(virtualPath, () => this.core.catalogue.setMtime(c, mtime.getTime()))
    if (e.type === 'file') await Promise.allSettled(e.nodes.map((n) => this.core.links.get(n)?.setMtime(c, mtime.getTime())))
  }

  async statfs(): Promise<{blockSize: number; blocks: number; freeBlocks: number; availableBlocks: number; files: number; freeFiles: number}> {
    let capacity = 0
    let free = 0
    const spaces = await Promise.allSettled(this.core.links.all().filter((l) => l.up).map((l) => l.space()))
    for (const s of spaces) {
      if (s.status !== 'fulfilled') continue
      capacity += s.value.capacityBytes
      free += s.value.freeBytes
    }
    const bs = 4096
    return {blockSize: bs, blocks: Math.floor(capacity / bs), freeBlocks: Math.floor(free / bs), availableBlocks: Math.floor(free / bs), files: 0, freeFiles: 0}
  }
}

const KIND = {ENOENT: 'not-found', EEXIST: 'exists', ENOTEMPTY: 'not-empty', ENOTDIR: 'not-directory', EISDIR: 'is-directory', EINVAL: 'invalid-path'} as const

/** Runs a catalogue change; its refusals become the FileErrors every protocol maps (never a raw 451). */
function guard<T>(virtualPath: string, fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    if (error instanceof CatalogueError) throw fileError(KIND[error.code], virtualPath)
    throw error
  }
}

function homeEntry(p: string): CatalogueEntry {
  return {path: p, type: 'dir', size: 0, mtimeMs: Date.now(), owner: '', sha256: null, nodes: [], generation: 0}
}
