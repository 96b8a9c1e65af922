// One SSH connection to the files site: login grace time, authentication with MaxAuthTries and the
// defender, idle timeout, and the SFTP channels of the authenticated user.
import type {Socket} from 'node:net'
import type {AuthContext, Connection, Session} from 'ssh2'
import type {LimitSettings, User} from '../../config/schema.js'
import type {Admission} from '../../net/connection-gate.js'
import type {Defender} from '../../net/defender.js'
import type {Logger} from '../log.js'
import {LocalFileSession} from '../session/local-session.js'
import {refuseShell, runExec} from './exec/exec-command.js'
import type {FileSession} from '../session/types.js'
import {ConnectionFlow} from './flow-control.js'
import {SftpHandler} from './sftp-handler.js'
import type {UserDirectory} from './user-directory.js'

const METHODS: ('publickey' | 'password')[] = ['publickey', 'password']

export interface ConnectionEnv {
  users(): UserDirectory
  limits(): LimitSettings
  defender: Defender
  storage: string
  nodeId: string
  log: Logger
  /** Opens the user's file session (default: the node's storage); the striped gateway brings its own. */
  openSession?: (user: User) => Promise<FileSession & {updateUser(user: User): void}>
}

export class SftpConnection {
  private client: Connection | null = null
  private user: User | null = null
  private fileSession: (FileSession & {updateUser(user: User): void}) | null = null
  private readonly handlers = new Set<SftpHandler>()
  /** One bound on the bytes held for all the SFTP channels of this connection. */
  private readonly flow = new ConnectionFlow()
  private failures = 0
  /** Session channels open on this connection. */
  private channels = 0
  private readonly timers = new Set<NodeJS.Timeout>()
  private closed = false

  constructor(
    readonly socket: Socket,
    private readonly admission: Admission,
    private readonly env: ConnectionEnv,
    private readonly onClose: (c: SftpConnection) => void,
  ) {
    const limits = env.limits()
    this.timer(limits.loginGraceSeconds * 1000, () => {
      if (this.user) return
      env.log.info('login grace time exceeded', {address: this.address})
      this.socket.destroy()
    })
    socket.setTimeout(limits.idleTimeoutSeconds * 1000, () => {
      env.log.info('idle timeout', {address: this.address, user: this.user?.name})
      this.end()
    })
    socket.once('close', () => this.dispose())
  }

  get address(): string {
    return this.admission.address
  }

  get userName(): string | undefined {
    return this.user?.name
  }

  /** Called once ssh2 has read the client's identification. */
  attach(client: Connection): void {
    this.client = client
    client.on('error', (error: Error) => this.env.log.debug('ssh connection error', {address: this.address, error: error.message}))
    client.on('authentication', (ctx) => void this.authenticate(ctx))
    client.on('ready', () => client.on('session', (accept, reject) => {
      // OpenSSH's MaxSessions: each channel may hold an SFTP server with its handles.
      const limit = this.env.limits().sessionsPerConnection
      if (this.channels >= limit) {
        this.env.log.info('session channel refused: limit per connection reached', {address: this.address, user: this.user?.name, limit})
        return reject()
      }
      this.channels += 1
      const session = accept()
      session.once('close', () => (this.channels -= 1))
      this.session(session)
    }))
  }

  /** Applies a reloaded user: new permissions at once; a removed or disabled user is disconnected. */
  updateUser(users: UserDirectory): void {
    if (!this.user) return
    const next = users.find(this.user.name)
    if (!next || next.disabled) {
      this.env.log.info('closing session of removed or disabled user', {user: this.user.name, address: this.address})
      this.end()
      return
    }
    this.user = next
    this.fileSession?.updateUser(next)
  }

  end(): void {
    if (this.client) this.client.end()
    else this.socket.destroy()
    // A peer that ignores DISCONNECT is cut off shortly after.
    this.timer(2000, () => this.socket.destroy())
  }

  private timer(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
  }

  private async authenticate(ctx: AuthContext): Promise<void> {
    const users = this.env.users()
    if (ctx.method === 'none') return ctx.reject(METHODS)
    if (ctx.method === 'password') {
      // Parallel guesses from one address: refused unchecked once those in flight would reach the ban.
      if (!(await this.env.defender.begin(this.address))) return this.fail(ctx, false)
      let user: User | null | undefined
      let banned = false
      try {
        user = await users.checkPassword(ctx.username, ctx.password)
      } finally {
        // Scored before the slot is given back (a worker's messages reach the supervisor in this order),
        // and even when the client hung up meanwhile: closing early must not dodge the count.
        if (!user) banned = this.env.defender.recordFailure(this.address, undefined, 'sftp')
        this.env.defender.end(this.address)
      }
      if (this.closed) return
      return user ? this.accept(ctx, user) : this.fail(ctx, true, banned)
    }
    if (ctx.method === 'publickey') {
      const key = users.matchKey(ctx.username, ctx.key)
      if (!key) return this.fail(ctx, false)
      if (!ctx.signature || !ctx.blob) return ctx.accept() // key is acceptable: the client signs next
      if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return this.fail(ctx, true)
      const user = users.find(ctx.username)
      return user && !user.disabled ? this.accept(ctx, user) : this.fail(ctx, true)
    }
    this.fail(ctx, false)
  }

  /** Opens the home before accepting: OpenSSH pipelines its SFTP INIT, so the channel must be served at once. */
  private async accept(ctx: AuthContext, user: User): Promise<void> {
    try {
      this.fileSession = await (this.env.openSession ? this.env.openSession(user) : LocalFileSession.open(this.env.storage, user, {nodeId: this.env.nodeId, handleLimit: () => this.env.limits().handlesPerConnection}))
    } catch (error) {
      this.env.log.error('cannot open the home directory', {user: user.name, error: (error as Error).message})
      ctx.reject([])
      this.end()
      return
    }
    if (this.closed) return
    this.user = user
    this.admission.authenticated()
    this.env.defender.recordSuccess(this.address)
    this.env.log.info('login', {user: user.name, method: ctx.method, address: this.address})
    ctx.accept()
  }

  /** A failed attempt: counts toward MaxAuthTries; password and signature failures also feed the defender. */
  private fail(ctx: AuthContext, penalize: boolean, scored?: boolean): void {
    this.failures += 1
    const banned = scored ?? (penalize && this.env.defender.recordFailure(this.address, undefined, 'sftp'))
    const limits = this.env.limits()
    const finish = () => {
      if (this.closed) return
      if (banned || this.failures >= limits.maxAuthTries) {
        this.env.log.info(banned ? 'address banned after failed logins' : 'too many authentication failures', {address: this.address, user: ctx.username})
        ctx.reject([])
        this.end()
        return
      }
      ctx.reject(METHODS)
    }
    if (penalize) {
      this.env.log.info('failed login', {user: ctx.username, method: ctx.method, address: this.address})
      this.timer(this.env.defender.failDelayMs, finish)
    } else {
      finish()
    }
  }

  private session(session: Session): void {
    session.on('sftp', (accept, reject) => {
      if (!this.fileSession || this.closed) return reject()
      this.handlers.add(new SftpHandler(accept(), this.fileSession, this.socket, {log: this.env.log, address: this.address, flow: this.flow}))
    })
    session.on('exec', (accept, reject, info) => {
      if (!this.fileSession || this.closed) return reject()
      void runExec(accept(), info.command, this.fileSession, {log: this.env.log, address: this.address})
    })
    session.on('shell', (accept, reject) => {
      if (!this.fileSession || this.closed) return reject()
      void refuseShell(accept())
    })
  }

  private dispose(): void {
    if (this.closed) return
    this.closed = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.admission.release()
    for (const h of this.handlers) void h.dispose()
    this.handlers.clear()
    this.onClose(this)
  }
}
