// The control connection: splits CRLF command lines (Telnet IAC stripped), writes single- and multi-line
// replies, and swaps the underlying socket for TLS after AUTH TLS.
import type {Socket} from 'node:net'
import {TLSSocket, type SecureContext} from 'node:tls'

/** Longest command line accepted; anything longer is an abuse of the parser, not a file name. */
const MAX_LINE = 8192

export interface ControlEvents {
  line(line: string): void
  overflow(): void
  closed(): void
}

export class ControlChannel {
  private pending: Buffer = Buffer.alloc(0)
  private ended = false
  private readonly onData = (chunk: Buffer) => this.consume(chunk)
  private readonly onClose = () => this.finish()

  constructor(
    private sock: Socket,
    private readonly events: ControlEvents,
  ) {
    this.attach()
  }

  get socket(): Socket {
    return this.sock
  }

  get secure(): boolean {
    return this.sock instanceof TLSSocket
  }

  get closed(): boolean {
    return this.ended || this.sock.destroyed
  }

  reply(code: number, text: string): void {
    if (this.closed) return
    const lines = text.split('\n')
    let out = ''
    if (lines.length === 1) out = `${code} ${lines[0]}\r\n`
    else {
      out = `${code}-${lines[0]}\r\n`
      for (const l of lines.slice(1, -1)) out += ` ${l}\r\n`
      out += `${code} ${lines.at(-1)}\r\n`
    }
    this.sock.write(out)
  }

  /** Writes the reply, then closes the connection once it is flushed. */
  close(code?: number, text?: string): void {
    if (code !== undefined && !this.closed) this.sock.end(`${code} ${text ?? ''}\r\n`)
    else this.sock.end()
    // a peer that never reads must not keep the socket open forever
    setTimeout(() => this.sock.destroy(), 2000).unref()
  }

  destroy(): void {
    this.sock.destroy()
  }

  /**
   * Wraps the socket in TLS (server side); resolves when the handshake has completed and the TLS 1.3 session
   * tickets are on the wire. Command lines are read only from then on, so no reply can overtake the tickets.
   */
  upgrade(context: SecureContext, handshakeTimeoutMs: number): Promise<void> {
    this.detach()
    const tls = new TLSSocket(this.sock, {isServer: true, secureContext: context})
    this.sock = tls
    this.attach(false)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('TLS handshake timed out')), handshakeTimeoutMs)
      tls.once('secure', () => {
        clearTimeout(timer)
        // 'secure' fires inside OpenSSL's processing of the client's Finished, before it writes the
        // NewSessionTickets; a reply written now would precede them, and GnuTLS (wget) saves the session right
        // after the handshake by reading the next record: it must be a ticket, not our 220. One turn of the
        // event loop lets the TLS layer flush the tickets first.
        setImmediate(() => {
          if (tls.destroyed) return reject(new Error('connection closed during the TLS handshake'))
          tls.on('data', this.onData) // lines the client sent meanwhile wait in the stream's buffer
          resolve()
        })
      })
      tls.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
    })
  }

  private attach(reading = true): void {
    if (reading) this.sock.on('data', this.onData)
    this.sock.on('close', this.onClose)
    this.sock.on('end', this.onClose)
    this.sock.on('error', () => {}) // 'close' follows; errors of a client's socket are not ours to log
  }

  private detach(): void {
    this.sock.off('data', this.onData)
    this.sock.off('close', this.onClose)
    this.sock.off('end', this.onClose)
    // stop the resume our 'data' listener scheduled: it would flow bytes already buffered (a ClientHello read with a PROXY header) to no one
    this.sock.pause()
  }

  private finish(): void {
    if (this.ended) return
    this.ended = true
    this.events.closed()
  }

  private consume(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    for (;;) {
      const nl = this.pending.indexOf(0x0a)
      if (nl < 0) break
      let raw = this.pending.subarray(0, nl)
      this.pending = this.pending.subarray(nl + 1)
      if (raw.length > 0 && raw[raw.length - 1] === 0x0d) raw = raw.subarray(0, raw.length - 1)
      this.events.line(stripTelnet(raw).toString('utf8'))
      if (this.closed) return
    }
    if (this.pending.length > MAX_LINE) {
      this.pending = Buffer.alloc(0)
      this.events.overflow()
    }
  }
}

/**
 * Drops the Telnet control bytes RFC 959 lets a client put on the control connection (section 4.1.3: "IAC IP",
 * then the Synch "IAC DM" as urgent data, before ABOR), keeping the text; IAC IAC stands for a 0xff byte.
 * BSD clients (tnftp, netkit ftp) send "IAC IP IAC" with MSG_OOB and "DM ABOR" inline: the kernel takes the
 * urgent byte (the second IAC) out of the stream, so a bare DM is left in front of the verb. Nothing before
 * a verb can be text, so Telnet codes (0xf0-0xff) left at the start of the line are dropped too.
 */
export function stripTelnet(raw: Buffer): Buffer {
  if (!raw.some((b) => b >= 0xf0)) return raw
  const out: number[] = []
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0xff) out.push(raw[i])
    else if (raw[i + 1] === 0xff) out.push(0xff), i++
    else i += raw[i + 1] !== undefined && raw[i + 1] >= 251 && raw[i + 1] <= 254 ? 2 : 1 // WILL/WONT/DO/DONT carry an option byte
  }
  let lead = 0
  while (lead < out.length && out[lead] >= 0xf0) lead++
  return Buffer.from(lead ? out.slice(lead) : out)
}
