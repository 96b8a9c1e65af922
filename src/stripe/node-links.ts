// The gateway's kept-open links to the storage nodes (`StripeNodeLinks`): one SSH connection per node to
// its admin endpoint as user `cluster` (pinned host key), one `stripe-link` exec channel speaking JSON lines,
// reconnected with a bounded backoff while the node is down. Closing the links lets the process exit.
import type {ClientChannel} from 'ssh2'
import type {ClusterConfig, StripeNode} from '../config/schema.js'
import {connectAsMember} from '../cluster/member-client.js'
import type {AdminClient} from '../protocol/admin-client.js'
import {formatHostPort} from '../protocol/index.js'
import {onJsonLines} from '../protocol/json-lines.js'
import type {Logger} from '../daemon/log.js'
import type {NodeSpace, PieceInfo, StripeNodeLinks, StripeNodeOps, StripeNodeRef} from './contract.js'
import {newToken} from './data-path.js'
import {STRIPE_LINK_COMMAND, type LinkEvent, type LinkReply, type ReceiveArgs, type SendArgs} from './link-protocol.js'

export class LinkError extends Error {
  constructor(message: string, readonly kind?: string) {
    super(message)
    this.name = 'LinkError'
  }
}

interface Pending {
  resolve(v: unknown): void
  reject(e: Error): void
  onEvent?: (e: LinkEvent) => void
}

/** A request in flight: its id (for cancel) and its result. */
export interface Call<T> {
  id: number
  result: Promise<T>
}

const BACKOFF_MS = [200, 500, 1000, 2000, 3000]

export class NodeLink implements StripeNodeOps {
  private client: AdminClient | null = null
  private channel: ClientChannel | null = null
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed = false
  private attempt = 0
  private timer: NodeJS.Timeout | null = null
  private connecting = false

  constructor(
    public node: StripeNodeRef,
    private readonly owner: NodeLinks,
  ) {}

  get up(): boolean {
    return this.channel !== null
  }

  get name(): string {
    return formatHostPort(this.node.host, this.node.port)
  }

  start(): void {
    void this.connect()
  }

  close(): void {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.drop(new LinkError(`storage node ${this.name}: the gateway closed its link`))
  }

  private async connect(): Promise<void> {
    if (this.closed || this.connecting || this.channel) return
    this.connecting = true
    try {
      const fingerprint = this.owner.fingerprintOf(this.node.nodeId)
      if (!fingerprint) throw new Error(`node ${this.node.nodeId} is not a member of the cluster (no pinned host key)`)
      const client = await connectAsMember(this.owner.clusterKey, this.owner.bind, {host: this.node.host, port: this.node.port, fingerprint}, 3000)
      if (this.closed) return client.close()
      const channel = await client.openChannel(STRIPE_LINK_COMMAND)
      this.client = client
      this.channel = channel
      this.attempt = 0
      onJsonLines<LinkReply>(channel, (msg) => this.onReply(msg))
      channel.stderr.on('data', () => {})
      const lost = () => {
        if (this.channel !== channel) return
        this.drop(new LinkError(`storage node ${this.name} is unreachable: the link was lost`))
        this.schedule()
      }
      channel.on('close', lost)
      client.onClose(lost)
      this.owner.log.info('stripe link up', {node: this.name})
      this.owner.changed(this.node.nodeId, true)
    } catch (error) {
      this.owner.log.debug('stripe link connect failed', {node: this.name, error: (error as Error).message})
      this.schedule()
    } finally {
      this.connecting = false
    }
  }

  private schedule(): void {
    if (this.closed || this.timer) return
    const ms = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]
    this.timer = setTimeout(() => {
      this.timer = null
      void this.connect()
    }, ms)
    this.timer.unref()
  }

  private drop(error: Error): void {
    const wasUp = this.channel !== null
    this.channel?.close()
    this.client?.close()
    this.channel = null
    this.client = null
    for (const p of this.pending.values()) p.reject(error)
    this.pending.clear()
    if (wasUp) {
      this.owner.log.warn('stripe link down', {node: this.name})
      this.owner.changed(this.node.nodeId, false)
    }
  }

  private onReply(msg: LinkReply): void {
    const p = this.pending.get(msg.id)
    if (!p) return
    if ('event' in msg) return p.onEvent?.(msg.event)
    this.pending.delete(msg.id)
    if ('result' in msg) p.resolve(msg.result)
    else p.reject(new LinkError(`storage node ${this.name}: ${msg.error.message}`, msg.error.kind))
  }

  /** Sends one request; events go to `onEvent`; rejects with an error naming the node. */
  call<T>(op: string, args: object, onEvent?: (e: LinkEvent) => void): Call<T> {
    const id = this.nextId++
    const result = new Promise<T>((resolve, reject) => {
      const channel = this.channel
      if (!channel) return reject(new LinkError(`storage node ${this.name} is down`, 'down'))
      this.pending.set(id, {resolve: resolve as (v: unknown) => void, reject, onEvent})
      channel.write(JSON.stringify({id, op, args}) + '\n')
    })
    result.catch(() => {})
    return {id, result}
  }

  /** Asks the node to commit a sealed two-phase receive. */
  commit(id: number): Promise<void> {
    return this.call<void>('commit', {id}).result
  }

  /** PRET: a port of the node's PASV range for `peer`; the next send/receive uses it as `{accepted: handle}`. */
  listen(peer: string): Promise<{port: number; handle: number}> {
    return this.call<{port: number; handle: number}>('listen', {peer}).result
  }

  cancel(id: number): void {
    if (this.channel) this.channel.write(JSON.stringify({id: this.nextId++, op: 'cancel', args: {id}}) + '\n')
  }

  space(): Promise<NodeSpace> {
    return this.call<NodeSpace>('space', {}).result
  }

  async inventory(onPiece: (piece: PieceInfo) => void): Promise<void> {
    await this.call('inventory', {}, (e) => {
      if ('piece' in e) onPiece(e.piece)
    }).result
  }

  stat(path: string): Promise<PieceInfo | null> {
    return this.call<PieceInfo | null>('stat', {path}).result
  }

  hash(path: string): Promise<{size: number; sha256: string} | null> {
    return this.call<{size: number; sha256: string} | null>('hash', {path}).result
  }

  async remove(path: string): Promise<void> {
    await this.call('remove', {path}).result
  }

  async rename(from: string, to: string, generation: number): Promise<void> {
    await this.call('rename', {from, to, generation}).result
  }

  async mkdir(path: string): Promise<void> {
    await this.call('mkdir', {path}).result
  }

  async rmdir(path: string): Promise<void> {
    await this.call('rmdir', {path}).result
  }

  async setMtime(path: string, mtimeMs: number): Promise<void> {
    await this.call('setMtime', {path, mtimeMs}).result
  }

  send(args: SendArgs, onEvent?: (e: LinkEvent) => void): Call<{bytes: number}> {
    return this.call('send', args, onEvent)
  }

  receive(args: ReceiveArgs, onEvent?: (e: LinkEvent) => void): Call<PieceInfo> {
    return this.call('receive', args, onEvent)
  }

  /** The target listens for this node (token), this node sends; never through the gateway. */
  async replicateTo(path: string, target: StripeNodeRef, generation: number): Promise<PieceInfo> {
    const to = this.owner.get(target.nodeId)
    if (!to) throw new LinkError(`storage node ${formatHostPort(target.host, target.port)} is not linked`)
    const piece = await this.stat(path)
    if (!piece) throw new LinkError(`storage node ${this.name}: has no piece ${path}`, 'not-found')
    const token = newToken()
    let listening!: (port: number) => void
    const port = new Promise<number>((r) => (listening = r))
    const receiving = to.receive({path, offset: 0, endpoint: {listen: {peer: this.node.host, token}}, tls: false, owner: piece.owner, mtimeMs: piece.mtimeMs, generation}, (e) => {
      if ('listening' in e) listening(e.listening)
    })
    const p = await Promise.race([port, receiving.result.then(() => -1)])
    if (p < 0) throw new LinkError(`storage node ${to.name}: did not listen for the copy of ${path}`)
    const sending = this.send({path, offset: 0, endpoint: {connect: {host: to.node.host, port: p, token}}, tls: false})
    try {
      await sending.result
    } catch (error) {
      to.cancel(receiving.id)
      throw error
    }
    return receiving.result
  }
}

export class NodeLinks implements StripeNodeLinks {
  private readonly links = new Map<string, NodeLink>()
  private readonly listeners: ((nodeId: string, up: boolean) => void)[] = []

  constructor(
    private readonly config: () => ClusterConfig,
    readonly clusterKey: string,
    /** The gateway's own address: the nodes' admin IP filters allow it. */
    readonly bind: string,
    readonly log: Logger,
  ) {}

  fingerprintOf(nodeId: string): string | undefined {
    const c = this.config()
    if (c.primary?.nodeId === nodeId) return c.primary.fingerprint
    return c.servers.find((s) => s.nodeId === nodeId)?.fingerprint
  }

  /** Opens links to new nodes, closes those of removed ones; an address change reconnects. */
  sync(nodes: StripeNode[]): void {
    const wanted = new Map(nodes.map((n) => [n.nodeId, n]))
    for (const [id, link] of this.links) {
      const n = wanted.get(id)
      if (!n || n.host !== link.node.host || n.port !== link.node.port) {
        link.close()
        this.links.delete(id)
      }
    }
    for (const n of nodes) {
      if (this.links.has(n.nodeId)) continue
      const link = new NodeLink({nodeId: n.nodeId, host: n.host, port: n.port}, this)
      this.links.set(n.nodeId, link)
      link.start()
    }
  }

  get(nodeId: string): NodeLink | undefined {
    return this.links.get(nodeId)
  }

  all(): NodeLink[] {
    return [...this.links.values()]
  }

  onChange(listener: (nodeId: string, up: boolean) => void): void {
    this.listeners.push(listener)
  }

  changed(nodeId: string, up: boolean): void {
    for (const l of this.listeners) l(nodeId, up)
  }

  close(): void {
    for (const link of this.links.values()) link.close()
    this.links.clear()
  }
}
