// The storage node's half of the striped cluster: the `stripe-link` exec channel from the gateway (cluster
// actor only) and the operations it asks for on the node's piece store — space, inventory, hash, delete,
// rename, mkdir, rmdir, and the data transfers: send/receive to a client's vetted address (active), a PASV
// port of this node (PRET), the gateway's relay socket, or another node (replication chain, replicate-to).
// This is the only place a node connects to a data address other than its own FTP client's.
import {statfs} from 'node:fs/promises'
import {onJsonLines} from '../protocol/json-lines.js'
import path from 'node:path'
import type {Socket} from 'node:net'
import type {SecureContext} from 'node:tls'
import type {ServerChannel} from 'ssh2'
import type {ClusterConfig} from '../config/schema.js'
import type {NodeSettings} from '../config/node-dir.js'
import {PasvPortPool} from '../daemon/ftp/pasv-port-pool.js'
import {secureDataSocket} from '../daemon/ftp/tls-context.js'
import {TransferAborted, finishSocket} from '../daemon/ftp/transfer.js'
import type {Logger} from '../daemon/log.js'
import type {NodeSpace, PieceInfo} from './contract.js'
import {Throttle, acceptOne, connectData, receivePiece, sendPiece, type PendingAccept} from './data-path.js'
import type {DataEndpoint, LinkEvent, LinkReply, LinkRequest, ReceiveArgs, SendArgs} from './link-protocol.js'
import {PieceError, PieceStore} from './piece-store.js'
import {stripeTlsContext} from './tls-keys.js'

/** The node's stripe directory: node.json `stripeDir`, default `<storage>/.stripe`. */
export function stripeDirOf(settings: NodeSettings): string {
  return settings.stripeDir ? path.resolve(settings.stripeDir) : path.join(settings.storage, '.stripe')
}

const MAX_LINE = 1024 * 1024

interface Running {
  sockets: Set<Socket>
  cancelled: boolean
  cancels: (() => void)[]
  /** A two-phase receive waiting for the gateway's word. */
  decide?: (commit: boolean) => void
}

/** How long a sealed two-phase upload waits for the gateway's commit before it is dropped. */
const COMMIT_WAIT_MS = 60_000

export class StripeNodeSide {
  private storePromise: Promise<PieceStore> | null = null
  readonly throttle: Throttle
  private readonly pool: PasvPortPool
  private tlsSource = ''
  private tlsContext: SecureContext | null = null
  private readonly channels = new Set<ServerChannel>()

  constructor(
    private readonly settings: NodeSettings,
    private readonly config: () => ClusterConfig,
    private readonly log: Logger,
    private readonly dataTimeoutMs = 15_000,
  ) {
    const c = config()
    this.throttle = new Throttle(c.stripe.nodeBandwidthLimit)
    const pasv = settings.pasvPorts ?? {min: c.sites.files.ftp.pasvPortMin, max: c.sites.files.ftp.pasvPortMax}
    this.pool = new PasvPortPool(pasv.min, pasv.max)
  }

  reload(config: ClusterConfig): void {
    this.throttle.update(config.stripe.nodeBandwidthLimit)
    const pasv = this.settings.pasvPorts ?? {min: config.sites.files.ftp.pasvPortMin, max: config.sites.files.ftp.pasvPortMax}
    this.pool.update(pasv.min, pasv.max)
  }

  /** Drops every open link (node stopping). */
  close(): void {
    for (const ch of this.channels) ch.close()
  }

  store(): Promise<PieceStore> {
    this.storePromise ??= PieceStore.open(stripeDirOf(this.settings))
    this.storePromise.catch(() => (this.storePromise = null))
    return this.storePromise
  }

  private member(): ClusterConfig['stripe']['nodes'][number] | undefined {
    return this.config().stripe.nodes.find((n) => n.nodeId === this.settings.nodeId)
  }

  private tls(): SecureContext {
    const id = this.config().serviceIdentity
    const source = id.tlsCert + id.tlsKey + ((id as {tlsTicketKeys?: string}).tlsTicketKeys ?? '')
    if (source !== this.tlsSource || !this.tlsContext) {
      this.tlsContext = stripeTlsContext(this.config())
      this.tlsSource = source
    }
    return this.tlsContext
  }

  async space(): Promise<NodeSpace> {
    const store = await this.store()
    const fsStat = await statfs(store.dataDir)
    const diskFree = Number(fsStat.bavail) * Number(fsStat.bsize)
    const cap = this.member()?.capacityBytes ?? null
    const capacityBytes = Math.min(cap ?? Number.MAX_SAFE_INTEGER, diskFree + store.usedBytes)
    return {capacityBytes, usedBytes: store.usedBytes, freeBytes: Math.max(0, capacityBytes - store.usedBytes), files: store.files}
  }

  /** Serves one link: requests in, events and results out, until the channel closes. */
  handle(channel: ServerChannel, address: string): void {
    this.channels.add(channel)
    const running = new Map<number, Running>()
    const accepts = new Map<number, PendingAccept>()
    const send = (reply: LinkReply) => {
      if (channel.writable) channel.write(JSON.stringify(reply) + '\n')
    }
    onJsonLines<LinkRequest>(channel, (req) => {
      if (req.op === 'cancel' || req.op === 'commit') {
        const r = running.get(Number(req.args.id))
        const waiting = r?.decide
        if (req.op === 'cancel') {
          if (r) this.cancel(r)
          accepts.get(Number(req.args.id))?.cancel()
          send({id: req.id, result: null})
        } else if (waiting) {
          waiting(true)
          send({id: req.id, result: null})
        } else {
          send({id: req.id, error: {message: 'no upload of that id is waiting for a commit'}})
        }
        return
      }
      if (req.op === 'listen') {
        void this.listen(req, accepts).then((result) => send({id: req.id, result}), (error: Error) => send({id: req.id, error: {message: error.message}}))
        return
      }
      const r: Running = {sockets: new Set(), cancelled: false, cancels: []}
      running.set(req.id, r)
      const event = (e: LinkEvent) => send({id: req.id, event: e})
      this.run(req, r, event, accepts).then(
        (result) => send({id: req.id, result: result ?? null}),
        (error: Error) => {
          if (!(error instanceof PieceError)) this.log.info('stripe operation failed', {op: req.op, path: req.args.path, error: error.message})
          // one line: the gateway puts it in an FTP reply (OpenSSL's messages end with a newline)
          send({id: req.id, error: {message: error.message.replace(/\s+/g, ' ').trim(), kind: error instanceof PieceError ? error.kind : undefined}})
        },
      ).finally(() => running.delete(req.id))
    }, MAX_LINE, () => channel.close())
    channel.on('close', () => {
      this.channels.delete(channel)
      for (const r of running.values()) this.cancel(r)
      for (const a of accepts.values()) a.cancel()
      this.log.info('stripe link closed', {address})
    })
    this.log.info('stripe link opened', {address})
  }

  /** PRET: a port of this node's PASV range for the client, used by the next send/receive. */
  private async listen(req: LinkRequest, accepts: Map<number, PendingAccept>): Promise<{port: number; handle: number}> {
    if (typeof req.args.peer !== 'string') throw new Error('listen: "peer" must be an address')
    const pending = await acceptOne(this.settings.bind, req.args.peer, undefined, this.dataTimeoutMs * 2, this.pool)
    accepts.set(req.id, pending)
    pending.socket.then(() => {}, () => accepts.delete(req.id))
    return {port: pending.port, handle: req.id}
  }

  private cancel(r: Running): void {
    r.decide?.(false)
    r.cancelled = true
    for (const s of r.sockets) s.destroy()
    for (const c of r.cancels) c()
  }

  private async run(req: LinkRequest, r: Running, event: (e: LinkEvent) => void, accepts: Map<number, PendingAccept>): Promise<unknown> {
    const a = req.args
    const store = await this.store()
    const p = (k: string) => {
      if (typeof a[k] !== 'string') throw new PieceError('invalid-path', `${req.op}: "${k}" must be a path`)
      return a[k] as string
    }
    switch (req.op) {
      case 'space':
        return this.space()
      case 'inventory': {
        let count = 0
        for await (const piece of store.inventory()) {
          event({piece})
          count += 1
        }
        return {count}
      }
      case 'stat':
        return store.stat(p('path'))
      case 'hash':
        return store.hash(p('path'))
      case 'remove':
        return store.remove(p('path'))
      case 'rename':
        return store.rename(p('from'), p('to'), Number(a.generation ?? 0))
      case 'mkdir':
        return store.mkdir(p('path'))
      case 'rmdir':
        return store.rmdir(p('path'))
      case 'setMtime':
        return store.setMtime(p('path'), Number(a.mtimeMs))
      case 'send':
        return this.send(store, a as unknown as SendArgs, r, event, accepts)
      case 'receive':
        return this.receive(store, a as unknown as ReceiveArgs, r, event, accepts)
      default:
        throw new Error(`unknown stripe link operation "${req.op}"`)
    }
  }

  /** Opens the data connection an endpoint names, tracked for cancel. */
  private async open(endpoint: DataEndpoint, tls: boolean, r: Running, event: (e: LinkEvent) => void, accepts: Map<number, PendingAccept>): Promise<Socket> {
    let socket: Socket
    if ('accepted' in endpoint) {
      const pending = accepts.get(endpoint.accepted)
      if (!pending) throw new Error('the passive port opened for this transfer expired')
      accepts.delete(endpoint.accepted)
      r.cancels.push(pending.cancel)
      socket = await pending.socket
    } else if ('listen' in endpoint) {
      const l = endpoint.listen
      const pending = await acceptOne(this.settings.bind, l.peer, l.token, this.dataTimeoutMs, l.pasv ? this.pool : undefined)
      r.cancels.push(pending.cancel)
      event({listening: pending.port})
      socket = await pending.socket
    } else {
      socket = await connectData(endpoint.connect, this.settings.bind, this.dataTimeoutMs)
    }
    r.sockets.add(socket)
    if (r.cancelled) socket.destroy()
    event({opened: true})
    if (tls) {
      const secured = await secureDataSocket(socket, this.tls(), this.dataTimeoutMs)
      r.sockets.add(secured)
      // as on every node's FTPS: the data connection must resume the client's TLS session (with the gateway)
      if (!secured.isSessionReused()) {
        secured.destroy()
        throw new Error('the data connection did not resume the client\'s TLS session with the gateway (the client must reuse the control session)')
      }
      socket = secured
    }
    return socket
  }

  private async send(store: PieceStore, a: SendArgs, r: Running, event: (e: LinkEvent) => void, accepts: Map<number, PendingAccept>): Promise<{bytes: number}> {
    const file = await store.openRead(a.path)
    try {
      if (a.offset > file.size) throw new PieceError('invalid-path', `${a.path}: restart offset ${a.offset} is beyond its ${file.size} bytes`)
      const socket = await this.open(a.endpoint, a.tls, r, event, accepts)
      try {
        const bytes = await sendPiece(file.fd, a.offset, socket, this.throttle)
        await finishSocket(socket)
        return {bytes}
      } catch (error) {
        socket.destroy()
        throw error
      }
    } finally {
      await file.close().catch(() => {})
    }
  }

  private async receive(store: PieceStore, a: ReceiveArgs, r: Running, event: (e: LinkEvent) => void, accepts: Map<number, PendingAccept>): Promise<PieceInfo> {
    const member = this.member()
    if (!member) throw new PieceError('io', `this node (${this.settings.bind}) is not a storage node of the striped cluster`)
    const writer = await store.beginWrite(a.path, a.offset)
    let forward: Socket | null = null
    let socket: Socket | null = null
    try {
      if (a.forward) {
        forward = await connectData(a.forward, this.settings.bind, this.dataTimeoutMs)
        r.sockets.add(forward)
      }
      socket = await this.open(a.endpoint, a.tls, r, event, accepts)
      await receivePiece(writer.fd, writer.startOffset, socket, writer.hash, this.throttle, forward)
      if (forward) await finishSocket(forward)
      if (a.twoPhase) {
        event({received: await writer.seal()})
        const commit = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), COMMIT_WAIT_MS)
          r.decide = (yes) => {
            clearTimeout(timer)
            r.decide = undefined
            resolve(yes)
          }
          if (r.cancelled) r.decide(false)
        })
        if (!commit) throw new TransferAborted('the gateway did not commit the upload')
      }
      const piece = await writer.commit({owner: a.owner, mtimeMs: a.mtimeMs, generation: a.generation})
      await finishSocket(socket)
      return piece
    } catch (error) {
      socket?.destroy()
      forward?.destroy()
      await writer.abort()
      throw error
    }
  }
}
