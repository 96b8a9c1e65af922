// One FTP control connection: login state, timers (login grace, idle), the command queue, and the
// transfer wrapper every data command goes through.
import type {Socket} from 'node:net'
import type {SecureContext, TLSSocket} from 'node:tls'
import type {Admission} from '../../net/connection-gate.js'
import type {ClusterConfig, User} from '../../config/schema.js'
import type {Logger} from '../log.js'
import type {FileSession} from '../session/types.js'
import {COMMANDS, type Command} from './command-table.js'
import {ControlChannel} from './control-channel.js'
import {DataChannel, DataChannelError} from './data-channel.js'
import {normalizeAddress} from './data-address.js'
import type {PasvPortPool} from './pasv-port-pool.js'
import {fileErrorReply} from './reply-codes.js'
import {clientSpokeFirst, discardUntilEnd, secureDataSocket} from './tls-context.js'
import {TransferAborted, finishSocket} from './transfer.js'
import type {Defender} from '../../net/defender.js'
import {userByName} from '../../config/users.js'

/** What a connection needs from its service; read live so a reload applies at once. */
export interface ConnectionHost {
  config(): ClusterConfig
  tls(): SecureContext | null
  defender: Defender
  pool: PasvPortPool
  log: Logger
  /** Local address data connections use. */
  bind: string
  /** Address advertised in PASV replies. */
  advertise: string
  openSession(user: User): Promise<FileSession>
  /** Seconds to wait for a data connection or a TLS handshake. */
  dataTimeoutMs: number
  /** The verbs of this service (default: the files site's); the striped gateway brings its own data verbs. */
  commands?: ReadonlyMap<string, Command>
}

interface Failure {
  code: number
  text: string
  detail?: string
}

interface ActiveTransfer {
  /** Stops the transfer at once (ABOR, idle timeout, disconnect). */
  abort(): void
  aborted: boolean
}

/** Commands that use a data connection: every 4xx/5xx they end with is logged (an operator sees failed transfers). */
const DATA_VERBS = new Set(['RETR', 'STOR', 'APPE', 'LIST', 'NLST', 'MLSD'])

/** The reply to a data command whose TLS data connection did not resume the control connection's session. */
export const REUSE_REFUSED =
  'Data connection refused: its TLS session is not the control connection\'s. Your client must reuse the TLS session ' +
  '(Python ftplib: subclass FTP_TLS so ntransfercmd wraps with session=self.sock.session); ' +
  'or set `sites.files.ftp.requireTlsSessionReuse false`'

export class FtpConnection {
  readonly control: ControlChannel
  readonly address: string
  readonly data: DataChannel
  /** USER given, PASS pending. */
  pendingUser: string | null = null
  session: FileSession | null = null
  cwd = '/'
  authTries = 0
  restOffset = 0
  renameFrom: string | null = null
  pbsz = false
  protP = false
  epsvAll = false
  /** Closes after the running transfer (user removed, address filtered by a reload). */
  closeWhenIdle = false
  private transfer: ActiveTransfer | null = null
  /** An ABOR line stopped a transfer; the ABOR command then answers 226 instead of 225. */
  private aborted = false
  /** The last 4xx/5xx reply of the running command, and what caused it beyond the reply text. */
  private failure: Failure | null = null
  private readonly queue: string[] = []
  private running = false
  private lastActivity = Date.now()
  private idleTimer: NodeJS.Timeout | null = null
  private graceTimer: NodeJS.Timeout | null = null

  constructor(
    socket: Socket,
    readonly host: ConnectionHost,
    private readonly admission: Admission,
    private readonly onClosed: (c: FtpConnection) => void,
  ) {
    this.address = normalizeAddress(admission.address) // the PROXY header's client when behind a load balancer
    this.control = new ControlChannel(socket, {
      line: (line) => this.onLine(line),
      overflow: () => this.control.close(500, 'Command line too long'),
      closed: () => this.cleanup(),
    })
    this.data = new DataChannel({pool: host.pool, bind: host.bind, peer: this.address, timeoutMs: host.dataTimeoutMs})
    const limits = host.config().limits
    this.graceTimer = setTimeout(() => this.control.close(421, 'Login timeout, closing control connection'), limits.loginGraceSeconds * 1000)
    this.armIdle()
  }

  get loggedIn(): boolean {
    return this.session !== null
  }

  get busy(): boolean {
    return this.transfer !== null
  }

  get requireTls(): boolean {
    return this.host.config().sites.files.ftp.requireTls
  }

  greet(): void {
    this.control.reply(220, 'ftpcluster FTP service ready')
  }

  reply(code: number, text: string): void {
    if (code >= 400) this.failure = {code, text, detail: this.failure?.detail}
    this.control.reply(code, text)
  }

  /** Adds the cause behind the next failure reply to its log line. */
  private noteFailure(detail: string): void {
    this.failure = {code: 0, text: '', detail}
  }

  /** Whether an ABOR line stopped a transfer since the last ABOR command (and forgets it). */
  takeAborted(): boolean {
    const a = this.aborted
    this.aborted = false
    return a
  }

  close(code = 421, text = 'Service not available, closing control connection'): void {
    this.control.close(code, text)
  }

  touch(): void {
    this.lastActivity = Date.now()
  }

  /** Login succeeded: frees the unauthenticated slot and stops the grace timer. */
  loginSucceeded(session: FileSession): void {
    this.session = session
    this.cwd = '/'
    this.pendingUser = null
    this.admission.authenticated()
    if (this.graceTimer) clearTimeout(this.graceTimer)
    this.graceTimer = null
  }

  /** Resolves a client path against the cwd; replies and returns null when the path is refused. */
  resolve(arg: string): string | null {
    try {
      return this.session!.resolve(arg || '.', this.cwd)
    } catch (error) {
      this.replyError(error)
      return null
    }
  }

  replyError(error: unknown): void {
    const r = fileErrorReply(error)
    this.reply(r.code, r.text)
  }

  takeRest(): number {
    const r = this.restOffset
    this.restOffset = 0
    return r
  }

  /**
   * Opens the data connection, says 150, negotiates TLS when PROT P, runs `work`, and answers 226, 426 or
   * the file error's code. Returns true when the transfer completed.
   */
  async withData(opening: string, work: (socket: Socket) => Promise<void>): Promise<boolean> {
    const encrypted = this.control.secure && this.protP
    if (this.requireTls && !encrypted) {
      this.data.reset()
      this.reply(522, 'Data connections must be encrypted (AUTH TLS, PBSZ 0, PROT P)')
      return false
    }
    let socket: Socket
    try {
      socket = await this.data.connect()
    } catch (error) {
      const code = error instanceof DataChannelError ? error.code : 425
      this.reply(code, error instanceof Error ? error.message : 'Cannot open data connection')
      return false
    }
    if (encrypted) {
      const secured = await this.secureData(socket, opening)
      if (!secured) return false
      socket = secured
    } else this.reply(150, opening)
    const t: ActiveTransfer = {abort: () => socket.destroy(), aborted: false}
    this.transfer = t
    try {
      await work(socket)
      await finishSocket(socket)
      this.reply(226, 'Transfer complete')
      return true
    } catch (error) {
      socket.destroy()
      if (t.aborted || error instanceof TransferAborted) this.reply(426, 'Connection closed; transfer aborted')
      else this.replyError(error)
      return false
    } finally {
      this.transfer = null
      this.touch()
    }
  }

  /**
   * TLS on the data connection (PROT P). Clients differ in who speaks first: ftplib, curl and lftp send their
   * ClientHello after the 150, basic-ftp and FileZilla right after connecting. When the ClientHello is already
   * there the handshake completes before the 150, so the transfer starts on a finished handshake (basic-ftp
   * ends an empty upload as soon as it reads the 150, and closing before its Finished leaves no session to
   * check). A refusal is this command's own reply, after a clean close of the data connection.
   */
  private async secureData(raw: Socket, opening: string): Promise<TLSSocket | null> {
    const context = this.host.tls()
    const clientFirst = await clientSpokeFirst(raw)
    if (!clientFirst) this.reply(150, opening)
    let tls: TLSSocket
    try {
      if (!context) throw new Error('TLS is not configured on this node')
      tls = await secureDataSocket(raw, context, this.host.dataTimeoutMs)
    } catch (error) {
      raw.destroy()
      this.noteFailure((error as Error).message)
      this.reply(522, `Data connection TLS negotiation failed: ${(error as Error).message}`)
      return null
    }
    if (this.host.config().sites.files.ftp.requireTlsSessionReuse && !tls.isSessionReused()) {
      this.noteFailure(`data connection did not resume the control connection's TLS session (${tls.getProtocol()})`)
      if (clientFirst) {
        tls.end() // no 150 yet: the client sends nothing and waits for this reply
        setTimeout(() => tls.destroy(), 2000).unref()
      } else {
        const t: ActiveTransfer = {abort: () => tls.destroy(), aborted: false}
        this.transfer = t // ABOR cuts the wait short
        await discardUntilEnd(tls, this.host.dataTimeoutMs)
        this.transfer = null
      }
      this.reply(522, REUSE_REFUSED)
      return null
    }
    if (clientFirst) this.reply(150, opening)
    return tls
  }

  /** ABOR: stops the running transfer at once (its handler answers 426). */
  abortTransfer(): boolean {
    const t = this.transfer
    if (!t) return false
    t.aborted = true
    t.abort()
    return true
  }

  /**
   * Runs a transfer whose data does not pass through this process (the striped gateway's active mode: a
   * storage node moves the bytes). ABOR and disconnect call `abort`; `busy` holds while it runs.
   */
  async runTransfer<T>(abort: () => void, work: (t: {readonly aborted: boolean}) => Promise<T>): Promise<T> {
    const t: ActiveTransfer = {abort, aborted: false}
    this.transfer = t
    try {
      return await work(t)
    } finally {
      this.transfer = null
      this.touch()
    }
  }

  /** A reload changed this session's user or address rights. */
  async applyConfig(config: ClusterConfig, allowed: boolean): Promise<void> {
    const name = this.session?.user.name
    const user = name === undefined ? undefined : userByName(config.users, name)
    if (!allowed || (name !== undefined && (!user || user.disabled))) {
      if (this.busy) this.closeWhenIdle = true
      else this.close(421, 'Access revoked by a configuration change')
      return
    }
    if (user && JSON.stringify(user) !== JSON.stringify(this.session!.user)) {
      this.session = await this.host.openSession(user) // new permissions from the next command on
    }
  }

  private onLine(line: string): void {
    this.touch()
    const verb = line.split(' ', 1)[0].toUpperCase()
    if (verb === 'ABOR' && this.abortTransfer()) this.aborted = true // the queued ABOR then answers 226
    if (this.queue.length > 64) return this.control.close(421, 'Too many pipelined commands')
    this.queue.push(line)
    void this.drain()
  }

  private async drain(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      while (this.queue.length > 0 && !this.control.closed) {
        await this.execute(this.queue.shift()!)
        if (this.closeWhenIdle && !this.busy) this.close(421, 'Access revoked by a configuration change')
      }
    } finally {
      this.running = false
    }
  }

  private async execute(line: string): Promise<void> {
    const space = line.indexOf(' ')
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase()
    const arg = space < 0 ? '' : line.slice(space + 1)
    const command = (this.host.commands ?? COMMANDS).get(verb)
    if (!command) return this.reply(502, `Command ${verb.slice(0, 16)} not implemented`)
    if (command.auth && !this.loggedIn) return this.reply(530, 'Please login with USER and PASS')
    if (command.needsArg && arg.trim() === '') return this.reply(501, `Syntax error: ${verb} needs an argument`)
    if (verb !== 'RNFR' && verb !== 'RNTO') this.renameFrom = null
    this.failure = null
    try {
      await command.run(this, arg)
    } catch (error) {
      this.host.log.warn('ftp command failed', {verb, address: this.address, error: (error as Error).message})
      this.replyError(error)
    }
    const f = this.failure as Failure | null // set by replies during run()
    if (f && f.code >= 400 && DATA_VERBS.has(verb)) {
      const fields: Record<string, unknown> = {user: this.session?.user.name, address: this.address, verb, path: arg.slice(0, 256), code: f.code, reason: f.text}
      if (f.detail) fields.detail = f.detail
      this.host.log.warn('ftp transfer failed', fields)
    }
  }

  private armIdle(): void {
    const limitMs = this.host.config().limits.idleTimeoutSeconds * 1000
    const left = this.lastActivity + limitMs - Date.now()
    if (left <= 0) {
      this.abortTransfer()
      this.control.close(421, 'Timeout: closing control connection')
      return
    }
    this.idleTimer = setTimeout(() => this.armIdle(), Math.min(left + 5, 60_000))
  }

  private cleanup(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    if (this.graceTimer) clearTimeout(this.graceTimer)
    this.abortTransfer()
    this.data.close()
    this.admission.release()
    this.onClosed(this)
  }
}
