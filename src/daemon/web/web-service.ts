// The web site of every node: HTTPS on `sites.web.httpsPort` with the cluster's certificate, plain HTTP on
// `httpPort` when set. Our own TCP listeners run PROXY → connection gate → drain check before a byte of
// HTTP or TLS, then hand the socket to Node's HTTP(S) server. Routes: the browser client (/), its API
// (/api/…), WebDAV (/dav/…).
import http from 'node:http'
import https from 'node:https'
import net, {type Socket} from 'node:net'
import type {ClusterConfig, User} from '../../config/schema.js'
import {ConnectionGate, type Admission} from '../../net/connection-gate.js'
import {ProxyFront} from '../../net/proxy-front.js'
import type {ServiceState} from '../../protocol/index.js'
import {listen} from '../listen.js'
import type {Logger} from '../log.js'
import type {Service, ServiceContext} from '../service.js'
import {LocalFileSession} from '../session/local-session.js'
import type {FileSession} from '../session/types.js'
import {FileError} from '../session/types.js'
import {DavHandler, HttpError, statusOfFileError} from './dav-handler.js'
import {DAV_PREFIX} from './dav-paths.js'
import {ForwardedFor} from './forwarded-for.js'
import {STATE_DIR} from './shared-state.js'
import {WebAuth, type AuthResult} from './web-auth.js'
import {loadStaticFiles, type StaticFile} from './web-static.js'
import {userByName} from '../../config/users.js'

export interface WebServiceOptions {
  /** Revokes every session of a user cluster-wide (the primary bumps the user's session epoch); `floor` is the
   *  lowest session epoch this node accepts now. */
  revokeSessions?: (user: string, floor: number) => Promise<void>
  openSession?: (user: User) => Promise<FileSession>
  /** A worker's web site: the supervisor listens and admits; connections arrive through `adopt`. */
  adopted?: boolean
}

/** What `cluster web status` shows for one node. */
export interface WebNodeState {
  state: ServiceState
  httpsPort: number | null
  httpPort: number | null
  sessions: number
  keyId: string
}

interface Listener {
  server: net.Server
  port: number
  secure: boolean
}

const MAX_JSON = 64 * 1024

export class WebService implements Service {
  readonly name = 'web'
  private readonly gate: ConnectionGate
  private readonly proxy: ProxyFront
  private readonly forwarded: ForwardedFor
  readonly auth: WebAuth
  private readonly dav: DavHandler
  private readonly log: Logger
  private readonly httpsServer: https.Server
  private readonly httpServer: http.Server
  private listeners: Listener[] = []
  /** Admitted connections by "address|port" of the peer (a TLS socket reports the same as the raw one). */
  private readonly admissions = new Map<string, Admission>()
  private readonly sockets = new Set<Socket>()
  private readonly sessions = new Map<string, {session: FileSession; home: string; at: number}>()
  private state: ServiceState = 'down'
  private tlsSource = ''
  private statics: Map<string, StaticFile> | null = null
  private readonly openSession: (user: User) => Promise<FileSession>

  constructor(private readonly ctx: ServiceContext, private readonly options: WebServiceOptions = {}) {
    const cfg = ctx.store.current
    this.log = ctx.log.child('web')
    this.gate = new ConnectionGate('files', cfg.sites.files.ipFilter, cfg.limits, ctx.defender)
    this.proxy = new ProxyFront('web', cfg.sites.web.proxyProtocol)
    this.forwarded = new ForwardedFor(cfg.sites.web.trustedProxies)
    this.auth = new WebAuth(cfg)
    this.dav = new DavHandler(ctx.settings.storage, this.log)
    this.openSession = options.openSession ?? ((user) => LocalFileSession.open(ctx.settings.storage, user, {nodeId: ctx.settings.nodeId}))
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res)
    this.httpsServer = https.createServer({key: cfg.serviceIdentity.tlsKey, cert: cfg.serviceIdentity.tlsCert, minVersion: 'TLSv1.2'}, handler)
    this.tlsSource = cfg.serviceIdentity.tlsCert + cfg.serviceIdentity.tlsKey
    this.httpServer = http.createServer(handler)
    for (const s of [this.httpsServer, this.httpServer]) {
      s.keepAliveTimeout = 30_000
      s.headersTimeout = cfg.limits.loginGraceSeconds * 1000
      s.requestTimeout = 0 // uploads of any size; idle sockets are closed by the socket timeout below
    }
  }

  async start(): Promise<void> {
    const web = this.ctx.store.current.sites.web
    if (!web.enabled) {
      this.state = 'disabled'
      return
    }
    this.state = 'starting'
    this.statics ??= loadStaticFiles()
    if (this.options.adopted) {
      this.state = 'up'
      return
    }
    try {
      await this.bindAll(web.httpsPort, web.httpPort)
    } catch (error) {
      this.unbindAll()
      this.state = 'down'
      throw error
    }
    this.state = 'up'
    this.log.info('web listening', {bind: this.ctx.settings.bind, https: web.httpsPort, http: web.httpPort ?? 'off'})
  }

  async stop(deadlineMs = 10_000): Promise<void> {
    this.state = 'down'
    this.unbindAll()
    this.httpServer.closeIdleConnections()
    this.httpsServer.closeIdleConnections()
    const until = Date.now() + deadlineMs
    while (this.sockets.size > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50))
      this.httpServer.closeIdleConnections()
      this.httpsServer.closeIdleConnections()
    }
    for (const s of this.sockets) s.destroy()
  }

  async reload(config: ClusterConfig): Promise<void> {
    this.gate.update(config.sites.files.ipFilter, config.limits)
    this.proxy.update(config.sites.web.proxyProtocol)
    this.forwarded.update(config.sites.web.trustedProxies)
    this.auth.update(config)
    const id = config.serviceIdentity
    if (id.tlsCert + id.tlsKey !== this.tlsSource) {
      this.httpsServer.setSecureContext({key: id.tlsKey, cert: id.tlsCert})
      this.tlsSource = id.tlsCert + id.tlsKey
    }
    for (const [key, s] of this.sessions) {
      const u = userByName(config.users, s.session.user.name)
      if (!u || u.home !== s.home) this.sessions.delete(key)
      else (s.session as LocalFileSession).updateUser?.(u)
    }
    if (this.state === 'down' && this.listeners.length === 0 && !this.options.adopted) return
    const web = config.sites.web
    if (this.options.adopted) {
      if (!web.enabled) this.state = 'disabled'
      else if (this.state === 'disabled') await this.start()
      return
    }
    if (!web.enabled) {
      this.unbindAll()
      this.state = 'disabled'
      return
    }
    const want = [web.httpsPort, web.httpPort]
    const have = [this.listeners.find((l) => l.secure)?.port ?? null, this.listeners.find((l) => !l.secure)?.port ?? null]
    if (want[0] === have[0] && want[1] === have[1]) return
    this.unbindAll()
    this.state = 'starting'
    try {
      this.statics ??= loadStaticFiles()
      await this.bindAll(web.httpsPort, web.httpPort)
      this.state = 'up'
      this.log.info('web listening', {bind: this.ctx.settings.bind, https: web.httpsPort, http: web.httpPort ?? 'off'})
    } catch (error) {
      this.state = 'down'
      this.log.error('cannot rebind the web site after a configuration change', {error: (error as Error).message})
    }
  }

  status(): ServiceState {
    if (this.state === 'up' && this.ctx.draining()) return 'draining'
    return this.state
  }

  /** Refuses the user's sessions below `floor` here (a logout made by another worker of this node). */
  holdFloor(user: string, floor: number): void {
    this.auth.holdFloor(user, floor)
  }

  /** Web sessions seen on this process recently. */
  get sessionCount(): number {
    return this.auth.activeSessions
  }

  /** A connection the supervisor admitted (a worker's web site). */
  adopt(socket: Socket, admission: Admission, secure: boolean): void {
    socket.on('error', () => {})
    if (this.state !== 'up' || this.ctx.draining()) {
      admission.release()
      return void socket.destroy()
    }
    this.serve(socket, admission, secure)
  }

  nodeState(): WebNodeState {
    const secure = this.listeners.find((l) => l.secure)
    const plain = this.listeners.find((l) => !l.secure)
    return {state: this.status(), httpsPort: secure?.port ?? null, httpPort: plain?.port ?? null, sessions: this.auth.activeSessions, keyId: this.auth.keyId}
  }

  private async bindAll(httpsPort: number, httpPort: number | null): Promise<void> {
    await this.bind(httpsPort, true)
    if (httpPort !== null) await this.bind(httpPort, false)
  }

  private async bind(port: number, secure: boolean): Promise<void> {
    const server = net.createServer({noDelay: true}, (socket) => void this.accept(socket, secure))
    server.on('error', (error) => this.log.error('web listener error', {port, error: error.message}))
    await listen(server, this.ctx.settings.bind, port, secure ? 'HTTPS (web) service' : 'HTTP (web) service')
    this.listeners.push({server, port, secure})
  }

  private unbindAll(): void {
    for (const l of this.listeners.splice(0)) l.server.close()
  }

  private async accept(socket: Socket, secure: boolean): Promise<void> {
    socket.on('error', () => {})
    const address = await this.proxy.clientAddress(socket, this.log)
    if (address === null || socket.destroyed) return
    const admission = this.gate.admitAddress(address)
    if (!admission.ok) {
      this.log.info('web connection refused', {address: admission.address, reason: admission.reason})
      return void socket.destroy()
    }
    if (this.ctx.draining()) {
      admission.release()
      return void socket.destroy()
    }
    this.serve(socket, admission, secure)
  }

  private serve(socket: Socket, admission: Admission, secure: boolean): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`
    this.admissions.set(key, admission)
    this.sockets.add(socket)
    socket.once('close', () => {
      admission.release()
      this.sockets.delete(socket)
      if (this.admissions.get(key) === admission) this.admissions.delete(key)
    })
    socket.setTimeout(this.gate.settings.idleTimeoutSeconds * 1000, () => socket.destroy())
    ;(secure ? this.httpsServer : this.httpServer).emit('connection', socket)
  }

  /** The client's address: the admitted one (PROXY header or peer), or X-Forwarded-For from a trusted proxy. */
  private clientOf(req: http.IncomingMessage): {address: string; admission: Admission | undefined} {
    const admission = this.admissions.get(`${req.socket.remoteAddress}|${req.socket.remotePort}`)
    const peer = admission?.address ?? req.socket.remoteAddress ?? ''
    return {address: this.forwarded.clientAddress(peer, req.headers['x-forwarded-for']), admission}
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const secure = 'encrypted' in req.socket
    const {address, admission} = this.clientOf(req)
    res.setHeader('x-served-by', this.ctx.settings.nodeId)
    if (this.ctx.draining()) res.setHeader('connection', 'close')
    try {
      if (this.ctx.defender.isBanned(address)) throw new HttpError(403, 'too many failed logins from this address; try later')
      if (!this.gate.allowedByFilter(address)) throw new HttpError(403, `${address} is not allowed by the files site's IP filter`)
      const url = req.url ?? '/'
      const pathname = url.split('?')[0]
      if (pathname === DAV_PREFIX || pathname.startsWith(DAV_PREFIX + '/')) return await this.davRequest(req, res, address, admission, secure)
      if (pathname.startsWith('/api/')) return await this.api(req, res, pathname, address, admission, secure)
      if (pathname === '/healthz') return this.json(res, this.status() === 'up' ? 200 : 503, {status: this.status()})
      return this.staticFile(req, res, pathname)
    } catch (error) {
      if (error instanceof HttpError || error instanceof FileError) {
        const status = error instanceof HttpError ? error.status : statusOfFileError(error)
        return this.json(res, status, {error: error.message})
      }
      this.log.error('web request failed', {url: req.url, error: (error as Error).stack})
      if (!res.headersSent) this.json(res, 500, {error: 'internal error'})
      else res.destroy()
    }
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body) + '\n'
    res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store'})
    res.end(text)
  }

  private staticFile(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET here')
    const name = pathname === '/' ? 'index.html' : pathname.slice(1)
    const file = this.statics?.get(name)
    if (!file || name.includes('/')) throw new HttpError(404, 'not found')
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      'content-security-policy': "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })
    res.end(req.method === 'HEAD' ? undefined : file.body)
  }

  /** Authenticates; failed passwords count for the defender. Throws 401/403, or returns the user. */
  private async authenticate(req: http.IncomingMessage, res: http.ServerResponse, address: string, admission: Admission | undefined, secure: boolean, challenge: boolean): Promise<Extract<AuthResult, {ok: true}>> {
    let scored = false
    const result = await this.auth.authenticate(req, (run) => this.passwordCheck(address, run, () => (scored = true)))
    if (result === null || !result.ok) {
      if (result && !result.ok && result.failedLogin) await this.failedLogin(address, result.reason, scored)
      if (challenge) res.setHeader('www-authenticate', 'Basic realm="ftpcluster", charset="UTF-8"')
      throw new HttpError(result?.ok === false ? result.status : 401, result?.ok === false ? result.reason : 'log in: Basic credentials or a session')
    }
    if (result.via === 'basic') this.requireSafeTransport(secure, address)
    admission?.authenticated()
    if (result.claims && result.via === 'cookie') this.auth.setCookie(res, result.claims, secure)
    return result
  }

  /** Passwords travel only over TLS: plain HTTP is for a TLS-terminating balancer (trustedProxies) or loopback. */
  private requireSafeTransport(secure: boolean, address: string): void {
    const web = this.ctx.store.current.sites.web
    if (secure || web.trustedProxies.length > 0 || /^(127\.|::1$|::ffff:127\.)/.test(address)) return
    throw new HttpError(403, `passwords are accepted only over HTTPS (port ${web.httpsPort}), or on plain HTTP behind a load balancer listed in sites.web.trustedProxies`)
  }

  /**
   * One password check in a defender slot: parallel guesses from one address wait once those in flight would
   * reach the ban; a failure is scored before the slot is released (`onScored` tells the caller).
   */
  private async passwordCheck(address: string, run: () => Promise<User | null>, onScored: () => void): Promise<User | null | 'refused'> {
    if (!(await this.ctx.defender.begin(address))) return 'refused'
    let user: User | null = null
    try {
      user = await run()
    } finally {
      if (!user) {
        this.ctx.defender.recordFailure(address, undefined, 'web')
        onScored()
      }
      this.ctx.defender.end(address)
    }
    return user
  }

  private async failedLogin(address: string, reason: string, scored = false): Promise<void> {
    const banned = scored ? this.ctx.defender.isBanned(address) : this.ctx.defender.recordFailure(address, undefined, 'web')
    this.log.info('web login failed', {address, reason, banned})
    const delay = this.ctx.defender.failDelayMs
    if (delay > 0) await new Promise((r) => setTimeout(r, delay))
  }

  private async sessionFor(user: User): Promise<FileSession> {
    const cached = this.sessions.get(user.name)
    if (cached && cached.home === user.home) {
      cached.at = Date.now()
      ;(cached.session as LocalFileSession).updateUser?.(user)
      return cached.session
    }
    const session = await this.openSession(user)
    if (this.sessions.size > 1000) this.sessions.clear()
    this.sessions.set(user.name, {session, home: user.home, at: Date.now()})
    return session
  }

  private async davRequest(req: http.IncomingMessage, res: http.ServerResponse, address: string, admission: Admission | undefined, secure: boolean): Promise<void> {
    if ((req.method ?? '').toUpperCase() === 'OPTIONS' && !req.headers.authorization && !req.headers.cookie) {
      return this.dav.handle({req, res, session: null as unknown as FileSession, user: null as unknown as User})
    }
    const auth = await this.authenticate(req, res, address, admission, secure, true)
    const session = await this.sessionFor(auth.user)
    await this.dav.handle({req, res, session, user: auth.user})
  }

  private async readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length
      if (size > MAX_JSON) throw new HttpError(413, 'request body too large')
      chunks.push(c)
    }
    try {
      const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected an object')
      return v as Record<string, unknown>
    } catch (error) {
      throw new HttpError(400, `expected a JSON object (${(error as Error).message})`)
    }
  }

  private async api(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, address: string, admission: Admission | undefined, secure: boolean): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase()
    if (pathname === '/api/login') {
      if (method !== 'POST') throw new HttpError(405, 'POST a JSON {"user", "password"}')
      // a login form posted from another site is refused (the body must be JSON, which a form cannot send)
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'send application/json')
      this.requireSafeTransport(secure, address)
      if (this.ctx.store.current.serviceIdentity.webSigningKeys.keys.length === 0) {
        throw new HttpError(503, 'the cluster has no session signing key yet: the primary creates one when its web site starts (upgrade the primary)')
      }
      const body = await this.readJson(req)
      const name = typeof body.user === 'string' ? body.user : ''
      const password = typeof body.password === 'string' ? body.password : ''
      let scored = false
      const user = await this.passwordCheck(address, () => this.auth.checkPassword(name, password), () => (scored = true))
      if (user === 'refused') throw new HttpError(403, 'too many login attempts from your address; try later')
      if (!user) {
        await this.failedLogin(address, 'wrong user name or password', scored)
        throw new HttpError(401, 'wrong user name or password')
      }
      admission?.authenticated()
      const {claims, token} = this.auth.issue(user)
      this.auth.setCookie(res, claims, secure, true)
      this.log.info('web login', {user: user.name, address})
      return this.json(res, 200, {user: user.name, csrfToken: claims.x, keyId: this.auth.keyId, expiresAt: new Date(claims.exp).toISOString(), token})
    }
    const auth = await this.authenticate(req, res, address, admission, secure, false)
    if (pathname === '/api/session' && method === 'GET') {
      return this.json(res, 200, {user: auth.user.name, csrfToken: auth.claims?.x ?? null, keyId: this.auth.keyId, node: this.ctx.settings.nodeId, permissions: auth.user.permissions})
    }
    if (pathname === '/api/logout' && method === 'POST') {
      if (auth.via === 'basic') throw new HttpError(400, 'Basic credentials have no session to log out of')
      const floor = this.auth.revokeLocally(auth.user.name)
      this.auth.clearCookie(res, secure)
      try {
        await this.options.revokeSessions?.(auth.user.name, floor)
      } catch (error) {
        this.log.warn('logout: the primary could not be told; the sessions are refused here and expire elsewhere within 20 min', {user: auth.user.name, error: (error as Error).message})
        return this.json(res, 502, {loggedOut: 'this-node', error: `the primary could not be reached (${(error as Error).message}); other nodes accept this session until it expires`})
      }
      this.log.info('web logout', {user: auth.user.name, address})
      return this.json(res, 200, {loggedOut: true})
    }
    if (pathname === '/api/list' && method === 'GET') {
      const p = new URL(req.url ?? '/', 'http://x').searchParams.get('path') ?? '/'
      if (p.includes('\0')) throw new HttpError(400, 'path not allowed')
      const session = await this.sessionFor(auth.user)
      const v = session.resolve(p)
      if (v.split('/')[1] === STATE_DIR) throw new HttpError(403, 'reserved name')
      const entries = (await session.list(v)).filter((e) => !(v === '/' && e.name === STATE_DIR))
      entries.sort((a, b) => Number(b.isDirectory) - Number(a.isDirectory) || a.name.localeCompare(b.name))
      return this.json(res, 200, {path: v, entries: entries.map((e) => ({name: e.name, directory: e.isDirectory, size: e.size, modified: e.mtime.toISOString()}))})
    }
    throw new HttpError(404, 'no such API')
  }
}
