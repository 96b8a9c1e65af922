// The data-channel manager of one FTP session: passive listeners inside the PASV range, active connections
// only back to the control connection's own address, one data connection per transfer.
import {connect, type Server, type Socket} from 'node:net'
import {normalizeAddress, type HostPort} from './data-address.js'
import type {PasvPortPool} from './pasv-port-pool.js'

export class DataChannelError extends Error {
  constructor(readonly code: number, message: string) {
    super(message)
    this.name = 'DataChannelError'
  }
}

export interface DataChannelOptions {
  pool: PasvPortPool
  /** Local address: passive listeners bind it, active connections leave from it. */
  bind: string
  /** The control connection's peer address (normalised): the only address data may flow with. */
  peer: string
  /** How long to wait for the client's passive connection, or for an active connect. */
  timeoutMs: number
}

interface Passive {
  server: Server
  port: number
  socket: Socket | null
  waiter: ((socket: Socket | null) => void) | null
  timer: NodeJS.Timeout
  released: boolean
}

export class DataChannel {
  private passive: Passive | null = null
  private active: HostPort | null = null
  /** Sockets handed out for a transfer and still open (ABOR and close destroy them). */
  private readonly open = new Set<Socket>()

  constructor(private readonly opts: DataChannelOptions) {}

  get configured(): boolean {
    return this.passive !== null || this.active !== null
  }

  /** PASV/EPSV: listens on a port of the range; throws 425 when the range is exhausted. */
  async listenPassive(): Promise<number> {
    this.reset()
    const got = await this.opts.pool.acquire(this.opts.bind)
    if (!got) throw new DataChannelError(425, 'No passive port available, try again later')
    const p: Passive = {
      server: got.server,
      port: got.port,
      socket: null,
      waiter: null,
      released: false,
      timer: setTimeout(() => this.dropPassive(p), this.opts.timeoutMs * 2),
    }
    p.timer.unref()
    got.server.on('connection', (socket: Socket) => this.accept(p, socket))
    got.server.on('error', () => this.dropPassive(p))
    this.passive = p
    return got.port
  }

  /** PORT/EPRT: remembers where to connect at the next transfer (the caller has vetted the address). */
  setActive(target: HostPort): void {
    this.reset()
    this.active = target
  }

  /** The TCP data connection for one transfer; consumes the PASV/PORT setting. */
  async connect(): Promise<Socket> {
    const p = this.passive
    const a = this.active
    this.passive = null
    this.active = null
    let socket: Socket | null
    if (p) socket = await this.awaitPassive(p)
    else if (a) socket = await this.connectActive(a)
    else throw new DataChannelError(425, 'Use PORT, EPRT, PASV or EPSV first')
    if (!socket) throw new DataChannelError(425, 'Cannot open data connection')
    socket.setNoDelay(true)
    this.open.add(socket)
    socket.once('close', () => this.open.delete(socket))
    return socket
  }

  /** Drops any pending setting and open data sockets (ABOR, QUIT, disconnect). */
  reset(): void {
    if (this.passive) this.dropPassive(this.passive)
    this.passive = null
    this.active = null
  }

  abortTransfers(): void {
    for (const s of this.open) s.destroy()
    this.open.clear()
  }

  close(): void {
    this.reset()
    this.abortTransfers()
  }

  private accept(p: Passive, socket: Socket): void {
    if (normalizeAddress(socket.remoteAddress) !== this.opts.peer || p.socket) {
      socket.destroy() // data from a third party (or a second connection) would be a hijack
      return
    }
    p.socket = socket
    startReading(socket)
    this.releasePort(p)
    if (p.waiter) p.waiter(socket)
  }

  private awaitPassive(p: Passive): Promise<Socket | null> {
    if (p.socket) {
      clearTimeout(p.timer)
      return Promise.resolve(p.socket)
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.dropPassive(p)
        resolve(null)
      }, this.opts.timeoutMs)
      p.waiter = (socket) => {
        clearTimeout(timer)
        clearTimeout(p.timer)
        resolve(socket)
      }
    })
  }

  private connectActive(target: HostPort): Promise<Socket | null> {
    return new Promise((resolve) => {
      const socket = connect({host: target.host, port: target.port, localAddress: this.opts.bind})
      const done = (ok: boolean) => {
        clearTimeout(timer)
        socket.off('error', onError)
        if (!ok) socket.destroy()
        resolve(ok ? socket : null)
      }
      const onError = () => done(false)
      const timer = setTimeout(() => done(false), this.opts.timeoutMs)
      socket.once('connect', () => {
        startReading(socket)
        done(true)
      })
      socket.once('error', onError)
    })
  }

  private releasePort(p: Passive): void {
    if (p.released) return
    p.released = true
    this.opts.pool.release(p.port, p.server)
  }

  private dropPassive(p: Passive): void {
    clearTimeout(p.timer)
    this.releasePort(p)
    if (p.socket && !this.open.has(p.socket)) p.socket.destroy()
    if (p.waiter) p.waiter(null)
    p.waiter = null
    if (this.passive === p) this.passive = null
  }
}

/**
 * Buffers what the client sends before the transfer starts (nothing flows: there is no 'data' listener yet),
 * so the TLS layer can tell whether the client spoke first (see clientSpokeFirst); a TLS wrap and the
 * transfer's own listener take the buffered bytes over.
 */
function startReading(socket: Socket): void {
  socket.read(0)
}
