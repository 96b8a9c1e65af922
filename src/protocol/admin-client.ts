// The CLI's client for a node's admin endpoint (SSH + SFTP + exec), with errors that say what happened and
// what to do: unknown host, port closed, IP filter, authentication, host key.
import {createHash} from 'node:crypto'
import net from 'node:net'
import ssh2, {type ClientChannel, type SFTPWrapper} from 'ssh2'
import {
  EXEC_EXIT,
  OperationError,
  fingerprintOf,
  formatHostPort,
  type ExecLine,
  type ProgressEvent,
} from './index.js'

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
      client.once('close', () => reject(new OperationError('unreachable', `the connection to ${formatHostPort(host, port)} was lost`, 'check that the node is still running')))
    })
    this.closed.catch(() => {})
  }

  /** Calls `listener` once when the connection closes. */
  onClose(listener: () => void): void {
    this.client.once('close', listener)
  }

  private guard<T>(operation: Promise<T>): Promise<T> {
    return Promise.race([operation, this.closed])
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
    socket.once('data', () => (sawBanner = true))
    return new Promise((resolve, reject) => {
      const fail = (error: OperationError) => {
        client.end()
        socket.destroy()
        reject(error)
      }
      let settled = false
      client.once('ready', () => {
        settled = true
        resolve(new AdminClient(client, opts.host, opts.port, fingerprint, socket.localAddress ?? ''))
      })
      client.on('error', (error: Error & {level?: string}) => {
        if (settled) return
        settled = true
        if (hostKeyError) return fail(hostKeyError)
        if (!sawBanner) {
          return fail(new OperationError(
            'filtered',
            `${at} closed the connection before the SSH banner: its admin IP filter does not allow this machine's address ${localAddress}, the address is banned after failed logins, or it has too many connections open there`,
            `on the primary, allow it: \`cluster ipfilter add --allow ${localAddress}/32 --site admin\` (or wait for a ban to expire; the node's log names the reason)`,
          ))
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
    const sftp = await this.guard(this.sftp())
    return this.guard(new Promise((resolve, reject) => {
      sftp.readFile(path, (err, data) => (err ? reject(sftpError(err, path)) : resolve(data.toString('utf8'))))
    }))
  }

  async readJson<T>(path: string): Promise<T> {
    return JSON.parse(await this.readFile(path)) as T
  }

  async writeFile(path: string, data: string): Promise<void> {
    const sftp = await this.guard(this.sftp())
    await this.guard(new Promise<void>((resolve, reject) => {
      sftp.writeFile(path, data, (err) => (err ? reject(sftpError(err, path)) : resolve()))
    }))
  }

  async list(path: string): Promise<string[]> {
    const sftp = await this.guard(this.sftp())
    return this.guard(new Promise((resolve, reject) => {
      sftp.readdir(path, (err, list) => (err ? reject(sftpError(err, path)) : resolve(list.map((e) => e.filename))))
    }))
  }

  /** Runs an exec action; progress events go to `onProgress`; resolves with the result or throws its error. */
  async exec<T>(command: string, args: object | null, onProgress?: (e: ProgressEvent) => void): Promise<T> {
    const channel = await this.guard(new Promise<ClientChannel>((resolve, reject) => {
      this.client.exec(command, (err, ch) => (err ? reject(new OperationError('refused', `exec ${command} refused: ${err.message}`)) : resolve(ch)))
    }))
    return new Promise<T>((resolve, reject) => {
      let buffer = ''
      let outcome: ExecLine | undefined
      let exitCode: number | null = null
      channel.on('data', (d: Buffer) => {
        buffer += d.toString('utf8')
        let nl: number
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim()
          buffer = buffer.slice(nl + 1)
          if (line === '') continue
          let msg: ExecLine
          try {
            msg = JSON.parse(line) as ExecLine
          } catch {
            continue
          }
          if ('event' in msg) onProgress?.(msg)
          else outcome = msg
        }
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
      if (args) channel.end(JSON.stringify(args))
      else channel.end()
    })
  }

  /** Opens a long-lived exec channel the caller reads and writes itself (the striped cluster's node link). */
  openChannel(command: string): Promise<ClientChannel> {
    return this.guard(new Promise<ClientChannel>((resolve, reject) => {
      this.client.exec(command, (err, ch) => (err ? reject(new OperationError('refused', `exec ${command} refused: ${err.message}`)) : resolve(ch)))
    }))
  }

  close(): void {
    this.client.end()
  }
}

/** Maps an SFTP status error to an OperationError; the daemon's message starts with the error code. */
function sftpError(err: Error & {code?: number}, path: string): OperationError {
  const m = /^([a-z-]+): (.*?)(?: → (.*))?$/s.exec(err.message)
  const known = ['invalid', 'conflict', 'not-primary', 'fenced', 'refused', 'io', 'internal']
  if (m && known.includes(m[1])) return new OperationError(m[1] as 'invalid', m[2], m[3])
  if (err.code === 2) return new OperationError('refused', `${path}: no such file on the admin endpoint`)
  return new OperationError('refused', `${path}: ${err.message}`)
}
