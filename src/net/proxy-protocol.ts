// PROXY protocol (HAProxy's spec, versions 1 and 2): the header a load balancer sends before the client's
// bytes, naming the client's real address. An incremental parser, and a reader that takes the header off a
// socket and leaves every byte after it in place for the protocol that follows.
import type {Socket} from 'node:net'

/** The 12-byte signature that starts a version 2 header. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V1_PREFIX = Buffer.from('PROXY ', 'ascii')
/** Longest version 1 line, CRLF included (the spec's bound). */
export const V1_MAX = 107
/** Longest version 2 header we accept: addresses plus room for the TLVs HAProxy may add (unique id, SSL). */
export const V2_MAX = 16 + 1024

export interface ProxyAddress {
  address: string
  port: number
}

/** `proxy`: relayed for the client `source`; `local`: the proxy speaking for itself (health checks), use the socket's address. */
export type ProxyHeader =
  | {version: 1 | 2; command: 'proxy'; source: ProxyAddress; destination: ProxyAddress}
  | {version: 1 | 2; command: 'local'}

export type ParseResult = {done: false} | {done: true; header: ProxyHeader; rest: Buffer}

export class ProxyProtocolError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ProxyProtocolError'
  }
}

function fail(message: string): never {
  throw new ProxyProtocolError(message)
}

/** True while `buf` could still become `prefix` (or already starts with it). */
function compatible(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length)
  return buf.subarray(0, n).equals(prefix.subarray(0, n))
}

const V4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const PORT_RE = /^(0|[1-9]\d{0,4})$/

function v1Port(text: string): number {
  const n = PORT_RE.test(text) ? Number(text) : -1
  if (n < 0 || n > 65535) fail(`PROXY v1: "${text.slice(0, 8)}" is not a port`)
  return n
}

function parseV1(line: string): ProxyHeader {
  const parts = line.split(' ')
  if (parts[1] === 'UNKNOWN') return {version: 1, command: 'local'}
  if (parts.length !== 6) fail('PROXY v1: expected "PROXY TCP4|TCP6 SRC DST SPORT DPORT"')
  const [, family, src, dst, sport, dport] = parts
  const valid = family === 'TCP4' ? (a: string) => V4_RE.test(a) : family === 'TCP6' ? (a: string) => /^[0-9a-fA-F:.]{2,45}$/.test(a) && a.includes(':') : null
  if (!valid) fail(`PROXY v1: unknown protocol "${family.slice(0, 8)}"`)
  if (!valid(src) || !valid(dst)) fail(`PROXY v1: bad ${family} address`)
  return {version: 1, command: 'proxy', source: {address: src, port: v1Port(sport)}, destination: {address: dst, port: v1Port(dport)}}
}

function v6(buf: Buffer, at: number): string {
  // an IPv4-mapped client (::ffff:a.b.c.d) is the IPv4 client, as the gate and the IP filter treat it
  if (buf.subarray(at, at + 10).every((b) => b === 0) && buf.readUInt16BE(at + 10) === 0xffff) return [...buf.subarray(at + 12, at + 16)].join('.')
  const groups: string[] = []
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + i * 2).toString(16))
  // the longest run of zero groups becomes "::" (RFC 5952), so logs and filters see the usual spelling
  let best = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i]
    i = j === i ? i + 1 : j
  }
  if (best < 0) return groups.join(':')
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`
}

function parseV2(buf: Buffer, length: number): ProxyHeader {
  const verCmd = buf[12]
  if (verCmd >> 4 !== 2) fail(`PROXY v2: unsupported version ${verCmd >> 4}`)
  const command = verCmd & 0x0f
  if (command === 0) return {version: 2, command: 'local'}
  if (command !== 1) fail(`PROXY v2: unknown command ${command}`)
  const family = buf[13]
  const body = buf.subarray(16, 16 + length)
  if (family === 0x00) return {version: 2, command: 'local'} // UNSPEC: the spec says use the real connection's address
  if (family === 0x11) {
    if (length < 12) fail('PROXY v2: TCP4 address block too short')
    return {
      version: 2,
      command: 'proxy',
      source: {address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8)},
      destination: {address: [...body.subarray(4, 8)].join('.'), port: body.readUInt16BE(10)},
    }
  }
  if (family === 0x21) {
    if (length < 36) fail('PROXY v2: TCP6 address block too short')
    return {version: 2, command: 'proxy', source: {address: v6(body, 0), port: body.readUInt16BE(32)}, destination: {address: v6(body, 16), port: body.readUInt16BE(34)}}
  }
  fail(`PROXY v2: unsupported address family 0x${family.toString(16).padStart(2, '0')} (only TCP over IPv4/IPv6)`)
}

/** Feed it bytes as they arrive; it answers "need more", or the header and the bytes after it; it throws on garbage. */
export class ProxyHeaderParser {
  private buf: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): ParseResult {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const buf = this.buf
    if (compatible(buf, V2_SIGNATURE)) {
      if (buf.length < 16) return {done: false}
      const length = buf.readUInt16BE(14)
      if (16 + length > V2_MAX) fail(`PROXY v2: header of ${16 + length} bytes exceeds the limit of ${V2_MAX}`)
      if (buf.length < 16 + length) return {done: false}
      return {done: true, header: parseV2(buf, length), rest: buf.subarray(16 + length)}
    }
    if (compatible(buf, V1_PREFIX)) {
      const end = buf.indexOf('\r\n')
      if (end < 0) {
        if (buf.length >= V1_MAX) fail(`PROXY v1: no CRLF within ${V1_MAX} bytes`)
        return {done: false}
      }
      if (end + 2 > V1_MAX) fail(`PROXY v1: line longer than ${V1_MAX} bytes`)
      return {done: true, header: parseV1(buf.subarray(0, end).toString('latin1')), rest: buf.subarray(end + 2)}
    }
    fail('not a PROXY protocol header')
  }
}

export interface ReadHeaderOptions {
  /** The header must be complete within this time (reliability 16: 3 s). */
  timeoutMs?: number
}

/**
 * Reads a PROXY header off a new socket and puts back any bytes past it (unshift), so the next protocol reads
 * the stream from its first byte. Rejects with ProxyProtocolError on garbage, timeout or an early close;
 * the caller drops the connection.
 */
export function readProxyHeader(socket: Socket, options: ReadHeaderOptions = {}): Promise<ProxyHeader> {
  const timeoutMs = options.timeoutMs ?? 3000
  const parser = new ProxyHeaderParser()
  return new Promise((resolve, reject) => {
    const finish = (error: Error | null, header?: ProxyHeader, rest?: Buffer) => {
      clearTimeout(timer)
      socket.off('readable', onReadable)
      socket.off('close', onClose)
      if (error) return reject(error)
      if (rest && rest.length > 0) socket.unshift(rest)
      resolve(header!)
    }
    const onReadable = () => {
      // read one chunk at a time, so nothing past the header is consumed beyond what `rest` returns
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        let result: ParseResult
        try {
          result = parser.push(chunk)
        } catch (error) {
          return finish(error as Error)
        }
        if (result.done) return finish(null, result.header, result.rest)
      }
    }
    const onClose = () => finish(new ProxyProtocolError('connection closed before the PROXY header was complete'))
    const timer = setTimeout(() => finish(new ProxyProtocolError(`no complete PROXY header within ${timeoutMs} ms`)), timeoutMs)
    socket.on('readable', onReadable)
    socket.once('close', onClose)
  })
}
