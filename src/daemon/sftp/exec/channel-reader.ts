// Reads a byte stream as the scp protocol needs it: control lines, single status bytes and exact byte
// counts, pulling chunks only when needed (so the SSH window gives the sender backpressure).
import type {Readable} from 'node:stream'

export class ChannelReader {
  private buf: Buffer = Buffer.alloc(0)
  private readonly it: AsyncIterator<Buffer>
  private ended = false

  constructor(stream: Readable) {
    // Not stream[Symbol.asyncIterator]: it destroys the channel at the end, before we can send exit-status.
    this.it = stream.iterator({destroyOnReturn: false}) as AsyncIterator<Buffer>
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false
    const r = await this.it.next()
    if (r.done) {
      this.ended = true
      return false
    }
    this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value])
    return true
  }

  /** One line without its "\n"; null at end of stream. Lines longer than `max` are a protocol error. */
  async line(max = 8192): Promise<string | null> {
    for (;;) {
      const nl = this.buf.indexOf(10)
      if (nl >= 0) {
        const s = this.buf.subarray(0, nl).toString('utf8')
        this.buf = this.buf.subarray(nl + 1)
        return s
      }
      if (this.buf.length > max) throw new Error('protocol error: control line too long')
      if (!(await this.fill())) return null
    }
  }

  /** The next byte, or null at end of stream. */
  async byte(): Promise<number | null> {
    if (this.buf.length === 0 && !(await this.fill())) return null
    const b = this.buf[0]
    this.buf = this.buf.subarray(1)
    return b
  }

  /** Passes exactly `n` bytes to `sink` in chunks; false if the stream ended first. */
  async bytes(n: number, sink: (chunk: Buffer) => Promise<void>): Promise<boolean> {
    let left = n
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill())) return false
      const take = Math.min(left, this.buf.length)
      const chunk = this.buf.subarray(0, take)
      this.buf = this.buf.subarray(take)
      left -= take
      await sink(chunk)
    }
    return true
  }
}
