// The supervisor's side of a file or web listener when sessions run in workers: it listens, reads a PROXY header
// when the site expects one, passes the one connection gate (bans, IP filter, limits, all workers counted
// together) and moves the admitted socket to a worker without having read a byte of the protocol.
import {createServer, type Server, type Socket} from 'node:net'
import type {ClusterConfig} from '../../config/schema.js'
import {ConnectionGate} from '../../net/connection-gate.js'
import {ProxyFront} from '../../net/proxy-front.js'
import type {ServiceState} from '../../protocol/index.js'
import {listen} from '../listen.js'
import type {Logger} from '../log.js'
import type {Service, ServiceContext} from '../service.js'
import type {FileListener} from './ipc.js'
import type {WorkerPool} from './worker-pool.js'

export type FrontDoorKind = 'sftp' | 'ftp' | 'web'

/** The ports a front door listens on, from the configuration. */
function wanted(kind: FrontDoorKind, config: ClusterConfig): {listener: FileListener; port: number}[] {
  const f = config.sites.files
  if (kind === 'sftp') return f.sftp.enabled ? [{listener: 'sftp', port: f.sftp.port}] : []
  if (kind === 'web') {
    const w = config.sites.web
    if (!w.enabled) return []
    return [{listener: 'https', port: w.httpsPort}, ...(w.httpPort === null ? [] : [{listener: 'http' as const, port: w.httpPort}])]
  }
  return [...(f.ftp.enabled ? [{listener: 'ftp' as const, port: f.ftp.port}] : []), ...(f.ftps.enabled ? [{listener: 'ftps' as const, port: f.ftps.port}] : [])]
}

/**
 * Stops a socket's reads and returns what it had read and not yet consumed. A handle still reading while it
 * moves to another process drops what it reads meanwhile (Node sets its onread to a no-op on send), and Node
 * has no public call to stop reading, hence the handle's own readStop.
 */
function takeBuffered(socket: Socket): Buffer | null {
  const handle = (socket as unknown as {_handle?: {reading?: boolean; readStop?: () => number}})._handle
  if (handle?.readStop) {
    handle.reading = false
    handle.readStop()
  }
  socket.pause()
  return socket.readableLength > 0 ? (socket.read() as Buffer | null) : null
}

export class FrontDoor implements Service {
  private readonly gate: ConnectionGate
  private readonly proxy: ProxyFront
  private readonly log: Logger
  private servers: {listener: FileListener; port: number; server: Server}[] = []
  private state: ServiceState = 'down'

  constructor(
    readonly name: FrontDoorKind,
    private readonly ctx: ServiceContext,
    private readonly pool: WorkerPool,
  ) {
    const cfg = ctx.store.current
    this.log = ctx.log.child(name)
    this.gate = new ConnectionGate('files', cfg.sites.files.ipFilter, cfg.limits, ctx.defender)
    this.proxy = name === 'web' ? new ProxyFront('web', cfg.sites.web.proxyProtocol) : new ProxyFront('files', cfg.sites.files.proxyProtocol)
  }

  async start(): Promise<void> {
    const want = wanted(this.name, this.ctx.store.current)
    if (want.length === 0) {
      this.state = 'disabled'
      return
    }
    this.state = 'starting'
    try {
      for (const w of want) await this.bind(w.listener, w.port)
    } catch (error) {
      this.closeAll()
      this.state = 'down'
      throw error
    }
    this.state = 'up'
  }

  async stop(): Promise<void> {
    this.closeAll()
    this.state = 'down'
  }

  async reload(config: ClusterConfig): Promise<void> {
    this.gate.update(config.sites.files.ipFilter, config.limits)
    this.proxy.update(this.name === 'web' ? config.sites.web.proxyProtocol : config.sites.files.proxyProtocol)
    if (this.state === 'down') return
    const want = wanted(this.name, config)
    const same = want.length === this.servers.length && want.every((w, i) => this.servers[i].listener === w.listener && this.servers[i].port === w.port)
    if (same) return
    this.closeAll()
    if (want.length === 0) {
      this.state = 'disabled'
      return
    }
    try {
      for (const w of want) await this.bind(w.listener, w.port)
      this.state = 'up'
    } catch (error) {
      this.state = 'down'
      this.log.error('cannot rebind after a configuration change', {error: (error as Error).message})
    }
  }

  status(): ServiceState {
    if (this.state === 'up' && this.pool.alive === 0) return 'down'
    if (this.state === 'up' && this.ctx.draining()) return 'draining'
    return this.state
  }

  private async bind(listener: FileListener, port: number): Promise<void> {
    // paused: not one byte is read here unless a PROXY header has to be
    const server = createServer({noDelay: true, pauseOnConnect: true}, (socket) => void this.accept(listener, socket))
    server.on('error', (error) => this.log.error('listener error', {port, error: error.message}))
    const what = {sftp: 'files-site SFTP service', ftp: 'FTP service', ftps: 'implicit FTPS service', https: 'HTTPS (web) service', http: 'HTTP (web) service'}[listener]
    await listen(server, this.ctx.settings.bind, port, what)
    this.servers.push({listener, port, server})
    this.log.info('listening', {address: this.ctx.settings.bind, port, listener, workers: this.pool.alive})
  }

  private closeAll(): void {
    for (const s of this.servers.splice(0)) s.server.close()
  }

  private async accept(listener: FileListener, socket: Socket): Promise<void> {
    socket.on('error', () => {})
    const refuse = (ftpLine: string) => {
      // an SSH client or an implicit-TLS client cannot read an FTP reply
      if (listener === 'ftp') socket.end(ftpLine)
      else socket.destroy()
    }
    if (this.ctx.draining()) return refuse('421 This node is draining; try another node\r\n')
    const address = await this.proxy.clientAddress(socket, this.log)
    if (address === null || socket.destroyed) return
    const admission = this.gate.admitAddress(address)
    if (!admission.ok) {
      this.log.info('connection refused', {address: admission.address, reason: admission.reason, listener})
      return refuse(`421 ${admission.reason === 'banned' ? 'Too many failed logins; try later' : 'Connection refused'}\r\n`)
    }
    // reading a PROXY header started reading the socket: stop it, then the bytes already read travel with it
    const buffered = this.proxy.enabled ? takeBuffered(socket) : null
    if (!this.pool.dispatch(listener, socket, admission, buffered)) {
      admission.release()
      this.log.error('no worker is up to take a connection', {address, listener})
      refuse('421 Service not available, try again shortly\r\n')
    }
  }
}
