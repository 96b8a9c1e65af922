// The striped cluster's data connections, shared by the nodes and the gateway's relay: connect (with a
// one-time token written first when the peer is a node or the relay), listen for one peer (token checked),
// and the two pipes that move a piece: send (file → socket) and receive (socket → part file, hashed, and
// forwarded to the next replica while it arrives), both under the node's bandwidth cap.
import {randomBytes, timingSafeEqual} from 'node:crypto'
import {read} from 'node:fs'
import {connect, createServer, type Server, type Socket} from 'node:net'
import type {Hash} from 'node:crypto'
import {normalizeAddress} from '../daemon/ftp/data-address.js'
import type {PasvPortPool} from '../daemon/ftp/pasv-port-pool.js'
import {TransferAborted} from '../daemon/ftp/transfer.js'
import {writeFully} from '../daemon/session/write-fully.js'
import {PieceError, pieceErrorOf} from './piece-store.js'

export const TOKEN_BYTES = 16
const TOKEN_LINE = TOKEN_BYTES * 2 + 1

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('hex')
}

/** A token bucket shared by every transfer of one node: `stripe.nodeBandwidthLimit` bytes per second. */
export class Throttle {
  private available = 0
  private last = Date.now()

  constructor(private rate: number | null) {}

  update(rate: number | null): void {
    this.rate = rate
  }

  /** Resolves once `bytes` may move; bursts are bounded to 1/10 s of the rate. */
  async take(bytes: number): Promise<void> {
    for (let i = 0; this.rate !== null && i < 10_000; i++) {
      const now = Date.now()
      const burst = Math.max(this.rate / 10, 64 * 1024)
      this.available = Math.min(burst, this.available + ((now - this.last) / 1000) * this.rate)
      this.last = now
      if (this.available >= bytes || (this.available > 0 && bytes > burst)) {
        this.available -= bytes
        return
      }
      const waitMs = Math.max(1, Math.ceil(((Math.min(bytes, burst) - this.available) / this.rate) * 1000))
      await new Promise((r) => setTimeout(r, waitMs))
    }
  }
}

/** Connects out (active mode, the relay, the next node); writes the token first when given. */
export function connectData(target: {host: string; port: number; token?: string}, localAddress: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({host: target.host, port: target.port, localAddress})
    const timer = setTimeout(() => fail(new Error(`no data connection to ${target.host}:${target.port} within ${timeoutMs} ms`)), timeoutMs)
    const fail = (error: Error) => {
      clearTimeout(timer)
      socket.destroy()
      reject(error)
    }
    socket.once('error', fail)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.off('error', fail)
      // A peer killed with -9 resets the connection at any moment, maybe before the caller listens: an error
      // without a listener would end the process (seen: a storage node died when the gateway was killed
      // mid-rebalance). Callers see the failure as their own error handler or the socket's close.
      socket.on('error', () => {})
      socket.setNoDelay(true)
      if (target.token) socket.write(target.token + '\n')
      resolve(socket)
    })
  })
}

/** Reads the token line of an accepted connection; resolves true when it matches. */
function checkToken(socket: Socket, token: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0)
    const timer = setTimeout(() => done(false), timeoutMs)
    const done = (ok: boolean, rest?: Buffer) => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.pause()
      if (ok && rest && rest.length > 0) socket.unshift(rest)
      resolve(ok)
    }
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d])
      if (got.length < TOKEN_LINE) return
      const line = got.subarray(0, TOKEN_LINE)
      const expected = Buffer.from(token + '\n')
      done(line.length === expected.length && timingSafeEqual(line, expected), got.subarray(TOKEN_LINE))
    }
    socket.on('data', onData)
    socket.once('close', () => done(false))
    socket.resume()
  })
}

/** One expected inbound data connection: a port, then the socket of the right peer (and token). */
export interface PendingAccept {
  port: number
  socket: Promise<Socket>
  cancel(): void
}

/**
 * Listens for one connection from `peer` (normalised address): in the PASV range when a pool is given (PRET:
 * the client's firewall expects it), else on an ephemeral port. Others are dropped; the first right one wins.
 */
export async function acceptOne(bind: string, peer: string, token: string | undefined, timeoutMs: number, pool?: PasvPortPool): Promise<PendingAccept> {
  let server: Server
  let port: number
  if (pool) {
    const got = await pool.acquire(bind)
    if (!got) throw new Error('no passive port available on the node')
    server = got.server
    port = got.port
  } else {
    server = createServer({pauseOnConnect: true})
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({host: bind, port: 0, exclusive: true}, () => resolve())
    })
    port = (server.address() as {port: number}).port
  }
  let settled = false
  let cancel!: () => void
  const close = () => (pool ? pool.release(port, server) : server.close())
  const socket = new Promise<Socket>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no data connection from ${peer} within ${timeoutMs} ms`)), timeoutMs)
    const finish = (error: Error | null, s?: Socket) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      close()
      if (error) reject(error)
      else resolve(s!)
    }
    cancel = () => finish(new TransferAborted('data connection cancelled'))
    server.on('connection', (s: Socket) => {
      s.on('error', () => {})
      if (settled || normalizeAddress(s.remoteAddress) !== normalizeAddress(peer)) return void s.destroy()
      s.setNoDelay(true)
      if (!token) {
        s.resume()
        return finish(null, s)
      }
      void checkToken(s, token, timeoutMs).then((ok) => (ok && !settled ? finish(null, s) : s.destroy()))
    })
    server.on('error', (e) => finish(e))
  })
  socket.catch(() => {})
  return {port, socket, cancel}
}

/** Writes with backpressure: resolves when the socket can take more. */
export function writeAll(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return reject(new TransferAborted('data connection closed'))
    const ok = socket.write(data, (err) => {
      if (err) reject(new TransferAborted(err.message))
    })
    if (ok) resolve()
    else {
      const onDrain = () => {
        socket.off('close', onClose)
        resolve()
      }
      const onClose = () => {
        socket.off('drain', onDrain)
        reject(new TransferAborted('data connection closed'))
      }
      socket.once('drain', onDrain)
      socket.once('close', onClose)
    }
  })
}

const CHUNK = 256 * 1024

/** Streams `fd` from `start` to its end over `socket`, under the throttle. Returns the bytes sent. */
export async function sendPiece(fd: number, start: number, socket: Socket, throttle: Throttle, onProgress?: () => void): Promise<number> {
  const buf = Buffer.allocUnsafe(CHUNK)
  let position = start
  for (;;) {
    const n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, CHUNK, position, (err, b) => (err ? reject(err) : resolve(b))))
    if (n === 0) break
    await throttle.take(n)
    // a copy: the buffer is reused for the next read while this one may still be queued in the socket
    await writeAll(socket, Buffer.from(buf.subarray(0, n)))
    position += n
    onProgress?.()
  }
  return position - start
}

/**
 * Everything the socket delivers until EOF, written at `start`, hashed, and forwarded to the next replica
 * (whose backpressure slows the reading). Rejects with TransferAborted when the data connection (or the
 * forward) breaks before a clean EOF.
 */
export async function receivePiece(fd: number, start: number, socket: Socket, hash: Hash, throttle: Throttle, forward: Socket | null, onProgress?: () => void): Promise<number> {
  let position = start
  let batch: Buffer[] = []
  let batched = 0
  const flush = async () => {
    if (batched === 0) return
    const data = batch.length === 1 ? batch[0] : Buffer.concat(batch, batched)
    batch = []
    batched = 0
    // the disk's failure (a full disk) is not a broken transfer: the gateway tells the client which it was
    await writeFully(fd, data, position).catch((error: unknown) => {
      throw pieceErrorOf(error, 'writing the piece')
    })
    position += data.length
  }
  let ended = false
  socket.once('end', () => (ended = true))
  try {
    for await (const chunk of socket as AsyncIterable<Buffer>) {
      await throttle.take(chunk.length)
      hash.update(chunk)
      if (forward) await writeAll(forward, chunk)
      batch.push(chunk)
      batched += chunk.length
      if (batched >= 1024 * 1024) await flush()
      onProgress?.()
    }
  } catch (error) {
    throw error instanceof TransferAborted || error instanceof PieceError ? error : new TransferAborted((error as Error).message)
  }
  if (!ended) throw new TransferAborted('data connection closed before the end of the file')
  await flush()
  return position - start
}

/** Copies one socket into another until EOF (the gateway's passive relay), with backpressure. */
export async function relay(from: Socket, to: Socket): Promise<number> {
  let bytes = 0
  let ended = false
  from.once('end', () => (ended = true))
  try {
    for await (const chunk of from as AsyncIterable<Buffer>) {
      await writeAll(to, chunk)
      bytes += chunk.length
    }
  } catch (error) {
    throw error instanceof TransferAborted ? error : new TransferAborted((error as Error).message)
  }
  if (!ended) throw new TransferAborted('data connection closed before the end of the file')
  return bytes
}
