// The FTP service of the files site: plain FTP with explicit AUTH TLS on `ftp.port`, implicit FTPS on
// `ftps.port`; every connection passes the connection gate before the greeting.
import {createServer, type Server, type Socket} from 'node:net'
import type {SecureContext} from 'node:tls'
import type {ClusterConfig, User} from '../../config/schema.js'
import {ConnectionGate, type Admission} from '../../net/connection-gate.js'
import {ProxyFront} from '../../net/proxy-front.js'
import type {ServiceState} from '../../protocol/index.js'
import {listen} from '../listen.js'
import type {Logger} from '../log.js'
import type {Service, ServiceContext} from '../service.js'
import {LocalFileSession} from '../session/local-session.js'
import type {FileSession} from '../session/types.js'
import type {Command} from './command-table.js'
import {FtpConnection, type ConnectionHost} from './ftp-connection.js'
import {PasvPortPool} from './pasv-port-pool.js'
import {createFtpTlsContext} from './tls-context.js'

export interface FtpServiceOptions {
  /** Opens the file session of a logged-in user (default: the local/shared storage of the node). */
  openSession?: (user: User) => Promise<FileSession>
  /** Wait for a data connection or a TLS handshake, ms. */
  dataTimeoutMs?: number
  /** Another service on the same engine (the striped gateway): its name, listeners, verbs and TLS context. */
  name?: string
  listeners?: (config: ClusterConfig) => {port: number; implicit: boolean}[]
  commands?: ReadonlyMap<string, Command>
  tls?: () => SecureContext | null
  /** In a worker process: the supervisor listens and passes admitted sockets to `adopt()`. */
  adopted?: boolean
}

/** The files site's listeners: plain FTP with explicit AUTH TLS on `ftp.port`, implicit FTPS on `ftps.port`. */
function filesListeners(config: ClusterConfig): {port: number; implicit: boolean}[] {
  const files = config.sites.files
  return [...(files.ftp.enabled ? [{port: files.ftp.port, implicit: false}] : []), ...(files.ftps.enabled ? [{port: files.ftps.port, implicit: true}] : [])]
}

export class FtpService implements Service {
  readonly name: string
  private readonly gate: ConnectionGate
  private readonly proxy: ProxyFront
  private readonly pool: PasvPortPool
  private readonly log: Logger
  private readonly connections = new Set<FtpConnection>()
  private readonly servers: Server[] = []
  private tlsContext: SecureContext | null = null
  private tlsSource = ''
  private state: ServiceState = 'down'
  private readonly host: ConnectionHost
  private readonly listeners: (config: ClusterConfig) => {port: number; implicit: boolean}[]
  private readonly adopted: boolean

  constructor(
    private readonly ctx: ServiceContext,
    options: FtpServiceOptions = {},
  ) {
    const cfg = ctx.store.current
    this.name = options.name ?? 'ftp'
    this.listeners = options.listeners ?? filesListeners
    this.log = ctx.log.child(this.name)
    this.gate = new ConnectionGate('files', cfg.sites.files.ipFilter, cfg.limits, ctx.defender)
    this.proxy = new ProxyFront('files', cfg.sites.files.proxyProtocol)
    const pasv = ctx.settings.pasvPorts ?? {min: cfg.sites.files.ftp.pasvPortMin, max: cfg.sites.files.ftp.pasvPortMax}
    this.pool = new PasvPortPool(pasv.min, pasv.max)
    this.adopted = options.adopted ?? false
    const openSession = options.openSession ?? ((user: User) => LocalFileSession.open(ctx.settings.storage, user, {nodeId: ctx.settings.nodeId, handleLimit: () => this.ctx.store.current.limits.handlesPerConnection}))
    this.host = {
      config: () => this.ctx.store.current,
      tls: options.tls ?? (() => this.tls()),
      defender: ctx.defender,
      pool: this.pool,
      log: this.log,
      bind: ctx.settings.bind,
      advertise: ctx.settings.externalAddress ?? ctx.settings.bind,
      openSession,
      dataTimeoutMs: options.dataTimeoutMs ?? 15_000,
      commands: options.commands,
    }
  }

  async start(): Promise<void> {
    const listeners = this.listeners(this.ctx.store.current)
    if (listeners.length === 0) {
      this.state = 'disabled'
      return
    }
    this.state = 'starting'
    if (this.adopted) {
      this.state = 'up'
      return
    }
    try {
      for (const l of listeners) await this.listenOn(l.port, l.implicit)
    } catch (error) {
      await this.closeServers()
      this.state = 'down'
      throw error
    }
    this.state = 'up'
    this.log.info(`${this.name} listening`, {bind: this.ctx.settings.bind, ports: listeners.map((l) => `${l.port}${l.implicit ? ' (implicit TLS)' : ''}`).join(', ')})
  }

  async stop(deadlineMs = 10_000): Promise<void> {
    await this.closeServers()
    for (const c of this.connections) if (!c.busy) c.close(421, 'Service shutting down')
    const until = Date.now() + deadlineMs
    while (this.connections.size > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50))
      for (const c of this.connections) if (!c.busy) c.close(421, 'Service shutting down')
    }
    for (const c of this.connections) c.control.destroy()
    this.state = 'down'
  }

  reload(config: ClusterConfig, _previous?: ClusterConfig): void {
    const files = config.sites.files
    this.gate.update(files.ipFilter, config.limits)
    this.proxy.update(files.proxyProtocol)
    // A node-local range (node.json) wins over the cluster's.
    const pasv = this.ctx.settings.pasvPorts ?? {min: files.ftp.pasvPortMin, max: files.ftp.pasvPortMax}
    this.pool.update(pasv.min, pasv.max)
    for (const c of this.connections) {
      c.applyConfig(config, this.gate.allowedByFilter(c.address)).catch((error: unknown) => {
        this.log.warn('ftp reload of a session failed', {address: c.address, error: (error as Error).message})
      })
    }
  }

  status(): ServiceState {
    if (this.state === 'up' && this.ctx.draining()) return 'draining'
    return this.state
  }

  /** Open control connections (tests and status). */
  get sessions(): number {
    return this.connections.size
  }

  private tls(): SecureContext | null {
    const id = this.ctx.store.current.serviceIdentity
    const source = id.tlsCert + id.tlsKey
    if (source !== this.tlsSource) {
      this.tlsSource = source
      try {
        // one context for control and data: TLS session tickets of the control connection resume on data
        this.tlsContext = createFtpTlsContext(id.tlsCert, id.tlsKey)
      } catch (error) {
        // a certificate OpenSSL cannot load must not take the daemon down at the first FTPS connection:
        // FTPS is refused (AUTH TLS answers 431) until the service identity is fixed
        this.tlsContext = null
        this.log.error('ftps unavailable: the TLS certificate or key cannot be loaded', {error: (error as Error).message, fix: 'set serviceIdentity.tlsCert/tlsKey to a valid PEM pair'})
      }
    }
    return this.tlsContext
  }

  private async listenOn(port: number, implicit: boolean): Promise<void> {
    const server = createServer({noDelay: true}, (socket) => void this.accept(socket, implicit))
    server.on('error', (error) => this.log.error('ftp listener error', {port, error: error.message}))
    await listen(server, this.ctx.settings.bind, port, implicit ? 'implicit FTPS service' : 'FTP service')
    this.servers.push(server)
  }

  private closeServers(): Promise<void> {
    // close() stops accepting at once; its callback would wait for every session to end, which stop() bounds.
    for (const s of this.servers.splice(0)) s.close()
    return Promise.resolve()
  }

  private async accept(socket: Socket, implicit: boolean): Promise<void> {
    socket.on('error', () => {})
    // behind a load balancer the client is the PROXY header's; data connections come from it directly (PASV advertises this node)
    const address = await this.proxy.clientAddress(socket, this.log)
    if (address === null || socket.destroyed) return
    const admission = this.gate.admitAddress(address)
    if (!admission.ok) {
      this.log.info('ftp connection refused', {address: admission.address, reason: admission.reason})
      // implicit TLS: no FTP reply can be read before a handshake, and a refused peer gets none
      if (implicit) socket.destroy()
      else socket.end(`421 ${admission.reason === 'banned' ? 'Too many failed logins; try later' : 'Connection refused'}\r\n`)
      return
    }
    if (this.ctx.draining()) {
      admission.release()
      if (implicit) socket.destroy()
      else socket.end('421 This node is draining; try another node\r\n')
      return
    }
    this.adopt(socket, admission, implicit)
  }

  /** A socket that has passed the gate (here, or in the supervisor when this runs in a worker). */
  adopt(socket: Socket, admission: Admission, implicit: boolean): void {
    socket.on('error', () => {})
    const c = new FtpConnection(socket, this.host, admission, (gone) => this.connections.delete(gone))
    this.connections.add(c)
    if (!implicit) return c.greet()
    const context = this.host.tls()
    if (!context) return c.control.destroy()
    c.control
      .upgrade(context, this.host.dataTimeoutMs)
      .then(() => c.greet())
      .catch(() => c.control.destroy())
  }
}
