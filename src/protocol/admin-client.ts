// The CLI's client for a node's admin endpoint (SSH + SFTP + exec), with errors that say what happened and
// what to do: unknown host, port closed, IP filter, authentication, host key.
import {createHash} from 'node:crypto'
import net from 'node:net'
import ssh2, {type ClientChannel, type SFTPWrapper} from 'ssh2'
import {
  DEFAULT_ADMIN_PORT,
  EXEC_EXIT,
  FILES_SFTP_IDENT,
  MEMBER_SESSION,
  MEMBER_SESSION_MAX_LINE,
  OperationError,
  parseBanLine,
  fingerprintOf,
  formatHostPort,
  type ExecLine,
  type ProgressEvent,
  type SessionReply,
} from './index.js'
import {onJsonLines} from './json-lines.js'

export interface Credentials {
  username: string
  password?: string
  privateKey?: string | Buffer
}

/** Decides whether a presented host key is acceptable; throws OperationError('host-key') if not. */
export type HostKeyCheck = (fingerprint: string) => void

export interface ConnectOptions {
  host: string
  port: number
  credentials: Credentials
  checkHostKey: HostKeyCheck
  timeoutMs?: number
  /** Local address to connect from (tests bind to 127.0.0.x). */
  localAddress?: string
  /**
   * SSH keepalives on a kept-open connection: a request every `intervalMs`, the connection closed after
   * `countMax` unanswered ones (a dead or partitioned peer is noticed in seconds, not at the next push).
   */
  keepalive?: {intervalMs: number; countMax: number}
}

const sha256 = (d: Buffer) => createHash('sha256').update(d).digest()

function tcpConnect(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<net.Socket> {
  const at = formatHostPort(host, port)
  return new Promise((resolve, reject) => {
    const socket = net.connect({host, port, localAddress, noDelay: true})
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new OperationError('unreachable', `no answer from ${at} within ${timeoutMs / 1000} s`, 'check the address, that the node is up, and that no firewall drops the port'))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.setNoDelay(true)
      resolve(socket)
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const code = error.code ?? ''
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
        reject(new OperationError('unreachable', `unknown host "${host}": it does not resolve`, 'check the spelling, or give an IP address'))
      } else if (code === 'ECONNREFUSED') {
        reject(new OperationError('unreachable', `nothing is listening on ${at}: connection refused`, `start the node (\`cluster node start DIR\`) or check the admin port (default 14983)`))
      } else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
        reject(new OperationError('unreachable', `${host} is unreachable from this machine (${code})`, 'check routing and firewalls between this machine and the node'))
      } else {
        reject(new OperationError('unreachable', `cannot connect to ${at}: ${error.message}`))
      }
    })
  })
}

export class AdminClient {
  private sftpChannel: Promise<SFTPWrapper> | undefined
  /** Rejects when the connection closes, so no operation waits forever on a node that died. */
  private readonly closed: Promise<never>

  private constructor(
    private readonly client: ssh2.Client,
    readonly host: string,
    readonly port: number,
    readonly fingerprint: string,
    /** This end's address of the connection: what the node's admin IP filter sees. */
    readonly localAddress: string,
  ) {
    this.closed = new Promise<never>((_, reject) => {
      client.once('close', () => reject(CONNECTION_LOST))
    })
    this.closed.catch(() => {})
  }

  /** Calls `listener` once when the connection closes. */
  onClose(listener: () => void): void {
    this.client.once('close', listener)
  }

  /** Settles with `operation`, or rejects naming `during` when the connection closes first. */
  private async guard<T>(operation: Promise<T>, during: string): Promise<T> {
    try {
      return await Promise.race([operation, this.closed])
    } catch (error) {
      if (error !== CONNECTION_LOST) throw error
      throw new OperationError('unreachable', `the node closed the connection during ${during} (${formatHostPort(this.host, this.port)}); check its log`, 'the node may have stopped or restarted; see `cluster diagnose` and run the command again (changes are idempotent)')
    }
  }

  static async connect(opts: ConnectOptions): Promise<AdminClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000
    const at = formatHostPort(opts.host, opts.port)
    const socket = await tcpConnect(opts.host, opts.port, timeoutMs, opts.localAddress)
    const localAddress = socket.localAddress ?? 'this machine'
    const client = new ssh2.Client()
    let fingerprint = ''
    let hostKeyError: OperationError | undefined
    let sawBanner = false
    // The first bytes: a ban line before the identification (RFC 4253 §4.2), or the identification itself.
    let head = ''
    const onHead = (d: Buffer) => {
      sawBanner = true
      head += d.toString('utf8')
      if (head.includes('\n') || head.length > 4096) socket.off('data', onHead)
    }
    socket.on('data', onHead)
    const ident = () => head.split(/\r?\n/).find((l) => l.startsWith('SSH-'))
    return new Promise((resolve, reject) => {
      const fail = (error: OperationError) => {
        client.end()
        socket.destroy()
        reject(error)
      }
      let settled = false
      // Closed without an error event (the node died mid-handshake): the promise must settle, or the CLI ends
      // with Node's "unsettled top-level await" (exit 13) and no message.
      client.once('close', () => {
        if (settled) return
        settled = true
        if (hostKeyError) return fail(hostKeyError)
        fail(new OperationError('unreachable', `the node closed the connection during the SSH handshake (${at}); check its log`, sawBanner ? 'the node may have stopped or restarted; run the command again' : 'its admin IP filter may not allow this machine, or it is overloaded; see `cluster diagnose`'))
      })
      client.once('ready', () => {
        settled = true
        resolve(new AdminClient(client, opts.host, opts.port, fingerprint, socket.localAddress ?? ''))
      })
      client.on('error', (error: Error & {level?: string}) => {
        if (settled) return
        settled = true
        if (hostKeyError) return fail(hostKeyError)
        const ban = parseBanLine(head)
        if (ban) return fail(new OperationError('banned', ban.message, ban.hint))
        if (!sawBanner) {
          return fail(new OperationError(
            'filtered',
            `${at} closed the connection before the SSH banner: its admin IP filter does not allow this machine's address ${localAddress}, the address is banned after failed logins, or it has too many connections open there`,
            `on the primary, allow it: \`cluster ipfilter add --allow ${localAddress}/32 --site admin\` (or wait for a ban to expire; the node's log names the reason)`,
          ))
        }
        if (error.level === 'client-authentication' && ident() === FILES_SFTP_IDENT) {
          // (Tests and tools use this client for file users too: only a refused login says "wrong port".)
          return fail(new OperationError('refused', `${at} is the files site's SFTP service, not an admin endpoint`, `the admin endpoint listens on port ${DEFAULT_ADMIN_PORT} by default: use ${formatHostPort(opts.host, DEFAULT_ADMIN_PORT)}`))
        }
        if (error.level === 'client-authentication') {
          return fail(new OperationError('auth', `authentication as "${opts.credentials.username}" on ${at} failed`, 'check the user and password (CLUSTER_USER, CLUSTER_PASSWORD or --password-stdin) or the key'))
        }
        if (error.level === 'client-timeout') return fail(new OperationError('unreachable', `${at} did not complete the SSH handshake within ${timeoutMs / 1000} s`))
        fail(new OperationError('unreachable', `SSH connection to ${at} failed: ${error.message}`))
      })
      client.connect({
        sock: socket,
        username: opts.credentials.username,
        password: opts.credentials.password,
        privateKey: opts.credentials.privateKey,
        readyTimeout: timeoutMs,
        tryKeyboard: false,
        keepaliveInterval: opts.keepalive?.intervalMs ?? 0,
        keepaliveCountMax: opts.keepalive?.countMax ?? 3,
        algorithms: {cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr', 'chacha20-poly1305@openssh.com'] as never},
        hostVerifier: (key: Buffer) => {
          fingerprint = fingerprintOf(key, sha256)
          try {
            opts.checkHostKey(fingerprint)
            return true
          } catch (error) {
            hostKeyError = error as OperationError
            return false
          }
        },
      })
    })
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpChannel ??= new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => (err ? reject(new OperationError('refused', `the admin endpoint refused SFTP: ${err.message}`)) : resolve(sftp)))
    })
    return this.sftpChannel
  }

  async readFile(path: string): Promise<string> {
    const sftp = await this.guard(this.sftp(), `the read of ${path}`)
    return this.guard(new Promise((resolve, reject) => {
      sftp.readFile(path, (err, data) => (err ? reject(sftpError(err, path)) : resolve(data.toString('utf8'))))
    }), `the read of ${path}`)
  }

  async readJson<T>(path: string): Promise<T> {
    return JSON.parse(await this.readFile(path)) as T
  }

  async writeFile(path: string, data: string): Promise<void> {
    const sftp = await this.guard(this.sftp(), `the write of ${path}`)
    await this.guard(new Promise<void>((resolve, reject) => {
      sftp.writeFile(path, data, (err) => (err ? reject(sftpError(err, path)) : resolve()))
    }), `the write of ${path}`)
  }

  async list(path: string): Promise<string[]> {
    const sftp = await this.guard(this.sftp(), `the listing of ${path}`)
    return this.guard(new Promise((resolve, reject) => {
      sftp.readdir(path, (err, list) => (err ? reject(sftpError(err, path)) : resolve(list.map((e) => e.filename))))
    }), `the listing of ${path}`)
  }

  /**
   * Runs an exec action; progress events go to `onProgress`; resolves with the result or throws its error.
   * `args` is an object, or its JSON text when the caller has it already (a large document, encoded once).
   */
  async exec<T>(command: string, args: object | string | null, onProgress?: (e: ProgressEvent) => void): Promise<T> {
    const during = `\`${command}\``
    const channel = await this.guard(new Promise<ClientChannel>((resolve, reject) => {
      this.client.exec(command, (err, ch) => (err ? reject(new OperationError('refused', `exec ${command} refused: ${err.message}`)) : resolve(ch)))
    }), during)
    return this.guard(new Promise<T>((resolve, reject) => {
      let outcome: ExecLine | undefined
      let exitCode: number | null = null
      onJsonLines<ExecLine>(channel, (msg) => {
        if ('event' in msg) onProgress?.(msg)
        else outcome = msg
      })
      channel.stderr.on('data', () => {})
      channel.on('exit', (code: number | null) => (exitCode = code))
      channel.on('close', () => {
        if (outcome && 'result' in outcome) return resolve(outcome.result as T)
        if (outcome && 'error' in outcome) {
          const e = outcome.error
          return reject(new OperationError(e.code, e.message, e.hint))
        }
        reject(new OperationError('internal', `exec ${command} ended without a result (exit ${exitCode ?? EXEC_EXIT.failed})`))
      })
      if (typeof args === 'string') channel.end(args)
      else if (args) channel.end(JSON.stringify(args))
      else channel.end()
    }), during)
  }

  /**
   * Sends one request on the members' kept-open session (MEMBER_SESSION, opened on first use): two JSON lines
   * instead of a channel per request. Same results and errors as exec.
   */
  async call<T>(command: string, args: object | null): Promise<T> {
    const text = args === null ? 'null' : JSON.stringify(args)
    // A large request (a delta of thousands of users) goes by exec, which takes documents of any size.
    if (text.length > MEMBER_SESSION_MAX_LINE - 256) return this.exec<T>(command, text)
    const session = await this.guard(this.memberSession(), `opening ${MEMBER_SESSION}`)
    const id = session.next++
    return this.guard(new Promise<T>((resolve, reject) => {
      session.pending.set(id, {resolve: resolve as (v: unknown) => void, reject})
      session.channel.write(`{"id":${id},"command":${JSON.stringify(command)},"args":${text}}\n`)
    }), `\`${command}\``)
  }

  private session: Promise<MemberSession> | undefined

  private memberSession(): Promise<MemberSession> {
    this.session ??= this.openChannel(MEMBER_SESSION).then((channel) => {
      const s: MemberSession = {channel, next: 1, pending: new Map()}
      let refusal: OperationError | undefined
      onJsonLines<SessionReply>(channel, (reply) => {
        // id 0: the session itself was refused (not a cluster member); the node closes it next
        if (reply.id === 0 && 'error' in reply) refusal = new OperationError(reply.error.code, reply.error.message, reply.error.hint)
        const p = s.pending.get(reply.id)
        if (!p) return
        s.pending.delete(reply.id)
        if ('result' in reply) p.resolve(reply.result)
        else p.reject(new OperationError(reply.error.code, reply.error.message, reply.error.hint))
      })
      channel.stderr.on('data', () => {})
      channel.on('close', () => {
        if (this.session === opened) this.session = undefined
        for (const p of s.pending.values()) p.reject(refusal ?? new OperationError('unreachable', `the ${MEMBER_SESSION} channel to ${formatHostPort(this.host, this.port)} closed`))
        s.pending.clear()
      })
      return s
    })
    const opened = this.session
    opened.catch(() => {
      if (this.session === opened) this.session = undefined
    })
    return opened
  }

  /** Opens a long-lived exec channel the caller reads and writes itself (the striped cluster's node link). */
  openChannel(command: string): Promise<ClientChannel> {
    return this.guard(new Promise<ClientChannel>((resolve, reject) => {
      this.client.exec(command, (err, ch) => (err ? reject(new OperationError('refused', `exec ${command} refused: ${err.message}`)) : resolve(ch)))
    }), `opening ${command}`)
  }

  close(): void {
    this.client.end()
  }
}

interface MemberSession {
  channel: ClientChannel
  next: number
  pending: Map<number, {resolve(v: unknown): void; reject(e: Error): void}>
}

/** The reason `closed` rejects with; `guard` turns it into a message naming the operation. */
const CONNECTION_LOST = Symbol('connection lost')

/** Maps an SFTP status error to an OperationError; the daemon's message starts with the error code. */
function sftpError(err: Error & {code?: number}, path: string): OperationError {
  const m = /^([a-z-]+): (.*?)(?: → (.*))?$/s.exec(err.message)
  const known = ['invalid', 'conflict', 'not-primary', 'fenced', 'refused', 'io', 'internal']
  if (m && known.includes(m[1])) return new OperationError(m[1] as 'invalid', m[2], m[3])
  if (err.code === 2) return new OperationError('refused', `${path}: no such file on the admin endpoint`)
  return new OperationError('refused', `${path}: ${err.message}`)
}
