// The admin endpoint: SSH with the SFTP subsystem and exec actions, on the admin port. Connections pass
// the connection gate (IP filter, limits, defender) when TCP accepts them, before the SSH banner.
import {readFileSync} from 'node:fs'
import net from 'node:net'
import ssh2, {type Connection} from 'ssh2'
import type {ClusterConfig} from '../../config/schema.js'
import {nodePaths} from '../../config/node-dir.js'
import {ConnectionGate} from '../../net/connection-gate.js'
import {MEMBER_SESSION, banLine, formatHostPort, type ServiceState} from '../../protocol/index.js'
import {listen} from '../listen.js'
import type {Logger} from '../log.js'
import type {NodeRuntime} from '../node-runtime.js'
import {VERSION} from '../node-runtime.js'
import type {Service} from '../service.js'
import {AdminAuthenticator} from './admin-auth.js'
import {runExec, runMemberSession} from './admin-exec.js'
import {AdminSftpTree} from './admin-sftp.js'
import {SSH_ALGORITHMS} from '../ssh-algorithms.js'


export class AdminService implements Service {
  readonly name = 'admin'
  private state: ServiceState = 'starting'
  private readonly gate: ConnectionGate
  private readonly tcp: net.Server
  private readonly ssh: ssh2.Server
  private readonly clients = new Set<Connection>()
  private readonly sockets = new Set<net.Socket>()
  private readonly log: Logger
  private port: number

  constructor(private readonly node: NodeRuntime) {
    this.log = node.log.child('admin')
    const config = node.config
    this.port = config.sites.admin.port
    this.gate = new ConnectionGate('admin', config.sites.admin.ipFilter, config.limits, node.defender)
    const hostKey = readFileSync(nodePaths(node.dataDir).hostKey)
    this.ssh = new ssh2.Server({hostKeys: [hostKey], ident: `ftpcluster_${VERSION}`, algorithms: SSH_ALGORITHMS})
    this.ssh.on('connection', (client, info) => this.onClient(client, info.ip))
    this.tcp = net.createServer({noDelay: true}, (socket) => this.onSocket(socket))
  }

  async start(): Promise<void> {
    await listen(this.tcp, this.node.settings.bind, this.port, 'admin endpoint')
    this.state = 'up'
    this.log.info('listening', {address: this.node.settings.bind, port: this.port})
  }

  async stop(deadlineMs = 2000): Promise<void> {
    this.state = 'down'
    const closed = new Promise<void>((resolve) => this.tcp.close(() => resolve()))
    for (const c of this.clients) c.end()
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy()
    }, deadlineMs)
    await closed
    clearTimeout(timer)
  }

  reload(config: ClusterConfig, previous: ClusterConfig): void {
    this.gate.update(config.sites.admin.ipFilter, config.limits)
    if (config.sites.admin.port !== previous.sites.admin.port) {
      this.log.warn('the admin port changed; it takes effect when the node restarts', {port: config.sites.admin.port})
    }
  }

  status(): ServiceState {
    return this.state
  }

  /** A member's own address: a ban never keeps it from its cluster-key login (the authenticator refuses the rest). */
  private isMember(address: string): boolean {
    const c = this.node.config
    return c.primary?.host === address || c.servers.some((s) => s.host === address)
  }

  private onSocket(socket: net.Socket): void {
    const address = socket.remoteAddress ?? ''
    const verdict = this.gate.admitAddress(address, {ignoreBan: this.isMember(address)})
    if (!verdict.ok) {
      this.log.warn('connection refused before the banner', {address: verdict.address, reason: verdict.reason})
      const ban = verdict.reason === 'banned' ? this.node.defender.banInfo(address) : undefined
      if (ban) {
        // One line before the identification (RFC 4253 §4.2), so the client can say why and how to lift it.
        socket.on('error', () => {})
        socket.end(banLine(address, formatHostPort(this.node.settings.bind, this.port), ban.until, ban.failures))
        setTimeout(() => socket.destroy(), 1000).unref()
      } else socket.destroy()
      return
    }
    this.sockets.add(socket)
    socket.setNoDelay(true)
    socket.on('error', () => {})
    const grace = setTimeout(() => {
      this.log.warn('login grace time exceeded', {address: verdict.address})
      socket.destroy()
    }, this.gate.settings.loginGraceSeconds * 1000)
    socket.once('close', () => {
      clearTimeout(grace)
      verdict.release()
      this.sockets.delete(socket)
    })
    ;(socket as net.Socket & {ftpclusterAdmission?: typeof verdict}).ftpclusterAdmission = verdict
    ;(socket as net.Socket & {ftpclusterGrace?: NodeJS.Timeout}).ftpclusterGrace = grace
    this.ssh.injectSocket(socket)
  }

  private onClient(client: Connection, ip: string): void {
    const socket = (client as unknown as {_sock: net.Socket & {ftpclusterAdmission?: {authenticated(): void}; ftpclusterGrace?: NodeJS.Timeout}})._sock
    const address = ip
    this.clients.add(client)
    const auth = new AdminAuthenticator(() => this.node.config, this.node.defender, address, () => this.gate.settings.maxAuthTries)
    client.on('authentication', (ctx) => {
      void auth.handle(ctx).then((outcome) => {
        if (outcome.disconnect) {
          this.log.warn('disconnecting after failed logins', {address, user: ctx.username})
          client.end()
        }
      }, (error: Error) => {
        this.log.error('authentication error', {address, error: error.message})
        client.end()
      })
    })
    client.on('ready', () => {
      const actor = auth.actor
      if (!actor) return void client.end()
      socket?.ftpclusterAdmission?.authenticated()
      if (socket?.ftpclusterGrace) clearTimeout(socket.ftpclusterGrace)
      this.log.info('session', {user: actor.user, address})
      const who = actor
      client.on('session', (accept) => {
        const session = accept()
        session.on('sftp', (acceptSftp) => {
          new AdminSftpTree(acceptSftp(), this.node, who, this.log)
        })
        session.on('exec', (acceptExec, _reject, info) => {
          const channelHandler = this.node.channels.get(info.command.trim())
          if (channelHandler) return channelHandler(acceptExec(), who)
          if (info.command.trim() === MEMBER_SESSION) return runMemberSession(acceptExec(), this.node, who, this.log)
          runExec(acceptExec(), info.command, this.node, who, this.log)
        })
        session.on('pty', (_a, reject) => reject?.())
        session.on('shell', (_a, reject) => reject())
        session.on('env', (accept) => accept?.())
      })
      client.on('request', (accept, reject) => reject?.()) // no port forwarding on the admin endpoint
    })
    client.on('error', (error) => this.log.debug('client error', {address, error: error.message}))
    client.on('close', () => this.clients.delete(client))
  }
}
