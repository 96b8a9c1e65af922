// The user SFTP service of the files site: our own TCP listener runs the connection gate before any SSH
// byte, then hands the socket to an ssh2 Server that never listens itself.
import net, {type Socket} from 'node:net'
import ssh2 from 'ssh2'
import type {ClusterConfig} from '../../config/schema.js'
import {ConnectionGate, type Admission} from '../../net/connection-gate.js'
import {ProxyFront} from '../../net/proxy-front.js'
import {coalesceWrites} from '../../net/coalesce-writes.js'
import type {ServiceState} from '../../protocol/index.js'
import {listen} from '../listen.js'
import type {Logger} from '../log.js'
import type {Service, ServiceContext} from '../service.js'
import {SftpConnection, type ConnectionEnv} from './sftp-connection.js'
import {UserDirectory} from './user-directory.js'
import {SSH_ALGORITHMS} from '../ssh-algorithms.js'

/** Another service on the same SFTP engine (the striped gateway): its name, port and file sessions. */
export interface SftpServiceOptions {
  name?: string
  /** The port to listen on for a configuration, or null when the service is off (default: the files site's). */
  port?: (config: ClusterConfig) => number | null
  openSession?: ConnectionEnv['openSession']
}

export class SftpService implements Service {
  readonly name: string
  private listener: net.Server | null = null
  private listening: {host: string; port: number} | null = null
  private ssh: ssh2.Server
  private hostKey: string
  private readonly gate: ConnectionGate
  private readonly proxy: ProxyFront
  private users: UserDirectory
  private readonly connections = new Set<SftpConnection>()
  /** Accepted sockets waiting for ssh2 to read their identification, by "address|port". */
  private readonly pending = new Map<string, SftpConnection>()
  private state: ServiceState = 'down'
  private readonly log: Logger

  /** @param adopted in a worker process: the supervisor listens and passes admitted sockets to `adopt()`. */
  private readonly portOf: (config: ClusterConfig) => number | null

  constructor(
    private readonly ctx: ServiceContext,
    private readonly adopted = false,
    private readonly options: SftpServiceOptions = {},
  ) {
    const cfg = ctx.store.current
    this.name = options.name ?? 'sftp'
    this.portOf = options.port ?? ((c) => (c.sites.files.sftp.enabled ? c.sites.files.sftp.port : null))
    this.log = ctx.log.child(this.name)
    this.gate = new ConnectionGate('files', cfg.sites.files.ipFilter, cfg.limits, ctx.defender)
    this.proxy = new ProxyFront('files', cfg.sites.files.proxyProtocol)
    this.users = new UserDirectory(cfg.users)
    this.hostKey = cfg.serviceIdentity.sftpHostKey
    this.ssh = this.createSshServer(this.hostKey)
  }

  async start(): Promise<void> {
    const port = this.portOf(this.ctx.store.current)
    if (port === null) {
      this.state = 'disabled'
      return
    }
    this.state = 'starting'
    if (this.adopted) {
      this.state = 'up'
      return
    }
    try {
      await this.bind(this.ctx.settings.bind, port)
    } catch (error) {
      this.state = 'down'
      throw error
    }
    this.state = 'up'
  }

  async stop(deadlineMs = 10_000): Promise<void> {
    this.state = 'down'
    await this.unbind()
    const deadline = Date.now() + deadlineMs
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))))
    }
    for (const c of [...this.connections]) c.socket.destroy()
  }

  async reload(config: ClusterConfig, _previous?: ClusterConfig): Promise<void> {
    this.gate.update(config.sites.files.ipFilter, config.limits)
    this.proxy.update(config.sites.files.proxyProtocol)
    this.users = new UserDirectory(config.users)
    for (const c of this.connections) c.updateUser(this.users)
    if (config.serviceIdentity.sftpHostKey !== this.hostKey) {
      // New connections get the new key; established ones keep theirs.
      this.ssh = this.createSshServer(config.serviceIdentity.sftpHostKey)
      this.hostKey = config.serviceIdentity.sftpHostKey
    }
    const wantPort = this.portOf(config)
    const want = {enabled: wantPort !== null, port: wantPort ?? 0}
    const host = this.ctx.settings.bind
    if (this.adopted) {
      if (this.state !== 'down') this.state = want.enabled ? 'up' : 'disabled'
      return
    }
    if (this.state === 'down' && !this.listening) return
    if (!want.enabled) {
      await this.unbind()
      this.state = 'disabled'
    } else if (!this.listening || this.listening.port !== want.port || this.listening.host !== host) {
      await this.unbind()
      this.state = 'starting'
      try {
        await this.bind(host, want.port)
        this.state = 'up'
      } catch (error) {
        this.state = 'down'
        this.log.error('cannot rebind after a configuration change', {error: (error as Error).message})
      }
    }
  }

  status(): ServiceState {
    if (this.state === 'up' && this.ctx.draining()) return 'draining'
    return this.state
  }

  /** Sessions open now (status pages, tests). */
  get sessionCount(): number {
    return this.connections.size
  }

  /** The bound port (tests bind to the configured one; 0 picks a free one). */
  get port(): number | undefined {
    const a = this.listener?.address()
    return typeof a === 'object' && a ? a.port : undefined
  }

  private createSshServer(hostKey: string): ssh2.Server {
    const server = new ssh2.Server({hostKeys: [hostKey], algorithms: SSH_ALGORITHMS, ident: 'ftpcluster'})
    server.on('connection', (client, info) => {
      const key = `${info.ip}|${info.port}`
      const conn = this.pending.get(key)
      this.pending.delete(key)
      if (!conn) return client.end()
      conn.attach(client)
    })
    server.on('error', (error: Error) => this.log.warn('ssh server error', {error: error.message}))
    return server
  }

  private async bind(host: string, port: number): Promise<void> {
    const listener = net.createServer({noDelay: true}, (socket) => void this.accept(socket))
    listener.on('error', (error) => this.log.error('listener error', {error: error.message}))
    await listen(listener, host, port, 'files-site SFTP service')
    this.listener = listener
    this.listening = {host, port}
    this.log.info('listening', {address: host, port})
  }

  private async unbind(): Promise<void> {
    const l = this.listener
    this.listener = null
    this.listening = null
    // close() stops accepting at once; its callback would wait for every session to end, which stop() bounds.
    l?.close()
  }

  private async accept(socket: Socket): Promise<void> {
    socket.on('error', () => {}) // resets by clients are normal; the close handler cleans up
    if (this.ctx.draining()) return void socket.destroy()
    const address = await this.proxy.clientAddress(socket, this.log)
    if (address === null || socket.destroyed) return
    const admission = this.gate.admitAddress(address)
    if (!admission.ok) {
      this.log.info('connection refused', {address: admission.address, reason: admission.reason})
      socket.destroy()
      return
    }
    this.adopt(socket, admission)
  }

  /** A socket that has passed the gate (here, or in the supervisor when this runs in a worker). */
  adopt(socket: Socket, admission: Admission): void {
    socket.on('error', () => {})
    socket.setNoDelay(true)
    const key = `${socket.remoteAddress}|${socket.remotePort}`
    const conn = new SftpConnection(
      socket,
      admission,
      {
        users: () => this.users,
        limits: () => this.gate.settings,
        defender: this.ctx.defender,
        storage: this.ctx.settings.storage,
        nodeId: this.ctx.settings.nodeId,
        log: this.log,
        openSession: this.options.openSession,
      },
      (c) => {
        this.connections.delete(c)
        if (this.pending.get(key) === c) this.pending.delete(key)
      },
    )
    this.connections.add(conn)
    this.pending.set(key, conn)
    this.ssh.injectSocket(coalesceWrites(socket))
  }
}
