// Streaming a file into a socket or an HTTP response: two large buffers alternate, so the next read overlaps
// the previous write, and nothing is allocated or copied per chunk (fs.createReadStream allocates each one).
import {read} from 'node:fs'

/** What a file is sent into: a net/TLS socket or an HTTP response. */
export interface FileSink {
  readonly destroyed: boolean
  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean
  once(event: 'close', listener: () => void): unknown
  off(event: 'close', listener: () => void): unknown
}

/** Bytes per read; 1 MiB measured fastest for FTP and HTTPS downloads (256 KiB and 2 MiB are not faster). */
export const SEND_CHUNK = 1024 * 1024

function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))))
}

/**
 * Sends `length` bytes of `fd` from `start` (Infinity: to the end of the file) and resolves with the count.
 * A sink that closes first rejects with `closed(message)`: its write callbacks may never run (an HTTP
 * response whose socket is gone drops them), so every wait also watches 'close'. A file that ends before
 * `length` rejects too: the peer was promised that many bytes.
 */
export async function sendFile(fd: number, out: FileSink, start: number, length: number, onProgress: (bytes: number) => void, closed: (message: string) => Error): Promise<number> {
  let onClose = () => {}
  const gone = new Promise<never>((_, reject) => (onClose = () => reject(closed('the connection closed during the transfer'))))
  gone.catch(() => {}) // raced below; this keeps a close after the last wait from being "unhandled"
  out.once('close', onClose)
  const write = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => {
      if (out.destroyed) return reject(closed('the connection closed during the transfer'))
      out.write(chunk, (err) => (err ? reject(closed(err.message)) : resolve()))
    })
  const size = Math.min(SEND_CHUNK, length)
  const bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)]
  const inFlight: (Promise<void> | null)[] = [null, null]
  let sent = 0
  let i = 0
  try {
    while (sent < length) {
      if (inFlight[i]) await Promise.race([inFlight[i], gone])
      if (out.destroyed) throw closed('the connection closed during the transfer')
      const want = Math.min(size, length - sent)
      // not raced: the caller closes fd once this returns, so no read may still be running then
      const n = await readAt(fd, bufs[i], want, start + sent)
      if (n === 0) {
        if (length === Infinity) break
        throw new Error(`the file ended after ${sent} of ${length} bytes (changed during the download)`)
      }
      const p = write(n === size ? bufs[i] : bufs[i].subarray(0, n))
      p.catch(() => {}) // awaited below
      inFlight[i] = p
      sent += n
      onProgress(n)
      i ^= 1
    }
    await Promise.race([Promise.all(inFlight), gone])
  } finally {
    out.off('close', onClose)
  }
  return sent
}
