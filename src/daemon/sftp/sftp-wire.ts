// What ssh2's SFTP server does not offer: advertising extensions in VERSION, EXTENDED_REPLY packets, and
// DATA replies sent straight from our read buffer (one copy less, one corked write per reply).
// It relies on ssh2 1.x internals (SFTP.outgoing, _buffer, _protocol.channelData), checked at runtime.
import type {Socket} from 'node:net'
import type {SFTPWrapper} from 'ssh2'

interface Outgoing {
  id: number
  state: string
  window: number
  packetSize: number
}
interface Internals {
  outgoing: Outgoing
  _buffer: Buffer[]
  _protocol: {channelData(id: number, data: Buffer): void; exitStatus?(id: number, status: number): void; channelEOF?(id: number): void}
}

const SSH_FXP_VERSION = 2
const SSH_FXP_DATA = 103
const SSH_FXP_EXTENDED_REPLY = 201
/** Header of a DATA reply: uint32 length, byte type, uint32 request id, uint32 data length. */
export const DATA_HEADER = 13

function internals(sftp: SFTPWrapper): Internals {
  return sftp as unknown as Internals
}

/** True when this ssh2 has the internals we use; otherwise callers fall back to the public API. */
export function supportsRawReplies(sftp: SFTPWrapper): boolean {
  const i = internals(sftp)
  return typeof i.outgoing === 'object' && Array.isArray(i._buffer) && typeof i._protocol?.channelData === 'function'
}

function encodeString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  const out = Buffer.allocUnsafe(4 + b.length)
  out.writeUInt32BE(b.length, 0)
  b.copy(out, 4)
  return out
}

/** The VERSION packet (v3) followed by extension name/data pairs. */
export function versionPacket(extensions: [string, string][]): Buffer {
  const body = Buffer.concat([Buffer.from([SSH_FXP_VERSION, 0, 0, 0, 3]), ...extensions.flatMap(([n, d]) => [encodeString(n), encodeString(d)])])
  const len = Buffer.allocUnsafe(4)
  len.writeUInt32BE(body.length, 0)
  return Buffer.concat([len, body])
}

/**
 * Replaces ssh2's bare VERSION reply with one that lists our extensions (so OpenSSH uses limits,
 * posix-rename, statvfs). Call right after accepting the subsystem, before the client's INIT arrives.
 */
export function advertiseExtensions(sftp: SFTPWrapper, packet: Buffer): void {
  const i = internals(sftp)
  if (!supportsRawReplies(sftp)) return
  const proto = i._protocol
  const hadOwn = Object.prototype.hasOwnProperty.call(proto, 'channelData')
  const previous = proto.channelData
  const restore = () => {
    if (hadOwn) proto.channelData = previous
    else delete (proto as Partial<Internals['_protocol']>).channelData
  }
  proto.channelData = function (this: unknown, id: number, data: Buffer) {
    if (id === i.outgoing.id && data.length === 9 && data[4] === SSH_FXP_VERSION) {
      restore()
      i.outgoing.window -= packet.length - data.length // ssh2 accounted for its own 9 bytes
      return previous.call(this, id, packet)
    }
    return previous.call(this, id, data)
  }
  sftp.once('close', restore)
}

/**
 * Sends `payload` (a complete SFTP packet) as channel data when the window allows it right now, corking the
 * socket so all channel packets leave in one write. Returns false when ssh2 must queue it instead.
 */
function sendNow(sftp: SFTPWrapper, payload: Buffer, socket: Socket | undefined): boolean {
  const i = internals(sftp)
  const out = i.outgoing
  if (out.state !== 'open') return true // channel closing: the reply is dropped like ssh2 does
  if (i._buffer.length > 0 || out.window < payload.length) return false
  socket?.cork()
  try {
    for (let p = 0; p < payload.length; ) {
      const n = Math.min(payload.length - p, out.packetSize)
      out.window -= n
      i._protocol.channelData(out.id, p === 0 && n === payload.length ? payload : payload.subarray(p, p + n))
      p += n
    }
  } finally {
    socket?.uncork()
  }
  return true
}

/**
 * Sends a DATA reply whose header space (DATA_HEADER bytes) precedes `n` bytes already in `buf`.
 * Returns true when `buf` may be reused at once, false when ssh2 keeps it queued.
 */
export function sendData(sftp: SFTPWrapper, reqid: number, buf: Buffer, n: number, socket: Socket | undefined): boolean {
  buf.writeUInt32BE(DATA_HEADER - 4 + n, 0)
  buf[4] = SSH_FXP_DATA
  buf.writeUInt32BE(reqid, 5)
  buf.writeUInt32BE(n, 9)
  const packet = buf.subarray(0, DATA_HEADER + n)
  if (sendNow(sftp, packet, socket)) return true
  const i = internals(sftp)
  if (i._buffer.length > 0) {
    // ssh2 is waiting for window and drains its queue in order: queue ours there without copying.
    i._buffer.push(packet)
    return false
  }
  sftp.data(reqid, buf.subarray(DATA_HEADER, DATA_HEADER + n))
  return true
}

/** Sends an EXTENDED_REPLY; false if it could not be sent now (the caller answers with a status instead). */
export function sendExtendedReply(sftp: SFTPWrapper, reqid: number, body: Buffer, socket: Socket | undefined): boolean {
  const packet = Buffer.allocUnsafe(9 + body.length)
  packet.writeUInt32BE(5 + body.length, 0)
  packet[4] = SSH_FXP_EXTENDED_REPLY
  packet.writeUInt32BE(reqid, 5)
  body.copy(packet, 9)
  if (sendNow(sftp, packet, socket)) return true
  const i = internals(sftp)
  if (i._buffer.length === 0) return false
  i._buffer.push(packet)
  return true
}

/** uint64 fields of an extended reply (values stay below 2^53). */
export function uint64s(values: number[]): Buffer {
  const b = Buffer.allocUnsafe(8 * values.length)
  values.forEach((v, k) => b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(v))), 8 * k))
  return b
}

/** Reads an SFTP string at `pos` of `buf`: [value, next position], or null when malformed. */
export function readString(buf: Buffer, pos: number): [Buffer, number] | null {
  if (pos + 4 > buf.length) return null
  const len = buf.readUInt32BE(pos)
  if (pos + 4 + len > buf.length) return null
  return [buf.subarray(pos + 4, pos + 4 + len), pos + 4 + len]
}

/**
 * Corks the socket around every ssh2 queue drain, so a drain of many channel packets is one write;
 * `after` runs after each drain (queued replies left: more may be produced).
 */
export function corkDrains(sftp: SFTPWrapper, socket: Socket | undefined, after: () => void = () => {}): void {
  if (!supportsRawReplies(sftp)) return
  let current: (() => void) | undefined
  let wrapped: (() => void) | undefined
  Object.defineProperty(sftp, '_chunkcb', {
    configurable: true,
    get: () => wrapped,
    set(fn: (() => void) | undefined) {
      if (fn === current) return
      current = fn
      wrapped = fn
        ? function (this: unknown) {
            socket?.cork()
            try {
              fn.call(this)
            } finally {
              socket?.uncork()
            }
            after()
          }
        : undefined
    },
  })
}

/** Sends exit-status on the subsystem channel (sshd does it when sftp-server exits), if still open. */
export function sendExitStatus(sftp: SFTPWrapper, status: number): void {
  const i = internals(sftp)
  if (i.outgoing?.state !== 'open' || typeof i._protocol?.exitStatus !== 'function') return
  i._protocol.exitStatus(i.outgoing.id, status)
}

/**
 * Ends the channel like sshd after sftp-server exits: queued replies leave first (bounded wait), then
 * exit-status, EOF and close. ssh2's own end() closes at once and would drop replies still queued.
 */
export async function closeChannel(sftp: SFTPWrapper, status: number, drainMs = 5000): Promise<void> {
  const i = internals(sftp)
  const deadline = Date.now() + drainMs
  while (Array.isArray(i._buffer) && i._buffer.length > 0 && i.outgoing?.state === 'open' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  sendExitStatus(sftp, status)
  if (i.outgoing?.state === 'open' && typeof i._protocol?.channelEOF === 'function') {
    i.outgoing.state = 'eof'
    i._protocol.channelEOF(i.outgoing.id)
  }
  sftp.end()
}
