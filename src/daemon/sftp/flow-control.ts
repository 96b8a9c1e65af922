// Backpressure for SFTP channels. ssh2 parses every packet as it arrives and re-opens the channel window at
// once, so a client that pipelines without limit would make us hold all it sends. Past a bound of requests
// or bytes we stop re-opening the window (the client then waits, as SSH flow control intends) and re-open
// it as replies leave; requests are never refused, dropped or reordered. Replies the client is not taking
// hold back the start of further requests, so a stalled reader cannot make us read its whole file ahead.
// It relies on ssh2 1.x internals (push's return value, incoming.window, _buffer), checked at runtime.
import type {SFTPWrapper} from 'ssh2'

/** ssh2's channel window (lib/Channel.js MAX_WINDOW): what the window is re-opened to. */
const WINDOW = 2 * 1024 * 1024

export interface FlowLimits {
  /** Requests received and not yet answered, per channel. */
  requests: number
  /** WRITE payloads received and not yet answered, per channel. */
  inBytes: number
  /** READ buffers in flight plus replies queued for a closed client window, per channel. */
  outBytes: number
}

/**
 * Far above what OpenSSH's sftp keeps outstanding (64 requests of up to 255 KiB), so its transfers never
 * wait on these; a client that pipelines more is slowed to the pace of the disk and of its own reading.
 */
export const CHANNEL_LIMITS: FlowLimits = {requests: 1024, inBytes: 32 * 1024 * 1024, outBytes: 24 * 1024 * 1024}

/** Bytes held by all the channels of one SSH connection (a client may open up to sessionsPerConnection). */
export const CONNECTION_LIMITS = {inBytes: 64 * 1024 * 1024, outBytes: 48 * 1024 * 1024}

interface Internals {
  push(data: Buffer | null): boolean | undefined
  incoming: {window: number}
  outgoing: {id: number; state: string}
  _buffer: Buffer[]
  _protocol: {channelWindowAdjust(id: number, amount: number): void}
  _client?: {_protocol?: unknown}
}

/** The channels of one SSH connection, whose held bytes count toward one bound. */
export class ConnectionFlow {
  private readonly channels = new Set<ChannelFlow>()

  constructor(readonly limits = CONNECTION_LIMITS) {}

  add(c: ChannelFlow): void {
    this.channels.add(c)
  }

  remove(c: ChannelFlow): void {
    this.channels.delete(c)
    this.changed()
  }

  get inBytes(): number {
    let n = 0
    for (const c of this.channels) n += c.inBytes
    return n
  }

  get outBytes(): number {
    let n = 0
    for (const c of this.channels) n += c.outBytes
    return n
  }

  /** Something was released: every channel waiting on the connection's bound may go on. */
  changed(): void {
    for (const c of this.channels) c.update()
  }
}

export class ChannelFlow {
  /** WRITE payload bytes received and not yet answered. */
  private written = 0
  /** READ buffer bytes taken and not yet handed to ssh2. */
  private reading = 0
  /** The window was not re-opened because a bound was reached. */
  private paused = false
  /** mayStart said no: the queue waits for `resume`. */
  private holding = false
  private readonly sftp: Internals | null

  /**
   * @param pending requests received and not yet answered
   * @param resume called when replies may be produced again (start held-back requests)
   */
  constructor(
    sftp: SFTPWrapper,
    private readonly pending: () => number,
    private readonly resume: () => void,
    private readonly connection?: ConnectionFlow,
    private readonly limits: FlowLimits = CHANNEL_LIMITS,
  ) {
    const i = sftp as unknown as Internals
    const usable = typeof i.push === 'function' && typeof i.incoming?.window === 'number' && Array.isArray(i._buffer) && typeof i._protocol?.channelWindowAdjust === 'function'
    this.sftp = usable ? i : null
    if (!this.sftp) return
    connection?.add(this)
    const push = i.push
    // ssh2's server re-opens the window after push unless push returns false (server.js CHANNEL_DATA).
    i.push = (data) => {
      const r = push.call(i, data)
      if (data !== null && this.overIn()) {
        this.paused = true
        return false
      }
      return r
    }
  }

  /** Bytes held for this channel: WRITE data waiting, READ buffers and queued replies. */
  get inBytes(): number {
    return this.written
  }

  get outBytes(): number {
    let n = this.reading
    // A queued reply keeps its whole buffer alive (a DATA reply is a view of a read buffer); small packets
    // share node's 8 KiB slabs, which are counted at their own size.
    if (this.sftp) for (const b of this.sftp._buffer) n += b.byteLength > 8192 ? b.buffer.byteLength : b.byteLength
    return n
  }

  /** True while replies may be produced: the client is taking what we sent. */
  mayStart(): boolean {
    const ok = this.outBytes < this.limits.outBytes && (!this.connection || this.connection.outBytes < this.connection.limits.outBytes)
    if (!ok) this.holding = true
    return ok
  }

  takeIn(n: number): void {
    this.written += n
  }

  /** A reply left; `n` WRITE payload bytes it held are free. */
  answered(n: number): void {
    this.written -= n
    this.released()
  }

  takeOut(n: number): void {
    this.reading += n
  }

  releaseOut(n: number): void {
    this.reading -= n
    this.released()
  }

  /** ssh2 sent queued replies (the client opened its window). */
  drained(): void {
    this.released()
  }

  /** The channel is gone: its bytes no longer count. */
  dispose(): void {
    this.written = 0
    this.reading = 0
    this.connection?.remove(this)
  }

  /** Re-opens the window if it was held and the bounds allow it again; starts held-back requests. */
  update(): void {
    const i = this.sftp
    if (!i) return
    if (this.paused && !this.overIn(true)) {
      this.paused = false
      if (i.outgoing.state === 'open' && i.incoming.window <= WINDOW / 2) {
        const amount = WINDOW - i.incoming.window
        i.incoming.window += amount
        i._protocol.channelWindowAdjust(i.outgoing.id, amount)
      }
    }
    if (this.holding && this.mayStart()) {
      this.holding = false
      this.resume()
    }
  }

  private released(): void {
    if (this.connection) this.connection.changed()
    else this.update()
  }

  /** Over a bound; `resuming` asks for half of it, so the window does not flap at the edge. */
  private overIn(resuming = false): boolean {
    const f = resuming ? 0.5 : 1
    if (this.pending() >= this.limits.requests * f || this.written >= this.limits.inBytes * f) return true
    return Boolean(this.connection && this.connection.inBytes >= this.connection.limits.inBytes * f)
  }
}
