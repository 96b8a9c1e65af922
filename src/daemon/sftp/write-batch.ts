// WRITEs of one upload that arrive together and continue each other go to the kernel as one pwritev. A client
// keeps up to 64 WRITEs of 32 KiB in flight; one thread-pool job each cost a wake-up of a pool thread and a
// completion per 32 KiB (bench/sftp-throughput: an upload stream cost 3.2-4.4 s of CPU per GiB, batched
// 2.4-2.5). Each WRITE is still answered on its own, in order, once its bytes are on file. READs are not
// batched: alternating runs showed no difference beyond this machine's noise.
import {writevFully} from '../session/write-fully.js'

/** One pwritev carries at most this much (and IOV_MAX is far above MAX_PARTS). */
const MAX_BYTES = 1024 * 1024
const MAX_PARTS = 64

interface Batch {
  fd: number
  start: number
  end: number
  parts: Buffer[]
  done: ((err: NodeJS.ErrnoException | null) => void)[]
}

export class WriteBatcher {
  /** The batch still open for more, per descriptor. */
  private readonly open = new Map<number, Batch>()
  private scheduled = false

  /** Writes `data` at `position` of `fd`, with the WRITEs that follow it at once; `done` when it is on file. */
  write(fd: number, position: number, data: Buffer, done: (err: NodeJS.ErrnoException | null) => void): void {
    const b = this.open.get(fd)
    if (b && b.end === position && b.end - b.start + data.length <= MAX_BYTES && b.parts.length < MAX_PARTS) {
      b.parts.push(data)
      b.done.push(done)
      b.end += data.length
      return
    }
    if (b) this.send(b)
    this.open.set(fd, {fd, start: position, end: position + data.length, parts: [data], done: [done]})
    if (!this.scheduled) {
      this.scheduled = true
      // After this turn's socket reads were parsed: everything that arrived together is in its batch by then.
      setImmediate(() => {
        this.scheduled = false
        for (const batch of [...this.open.values()]) this.send(batch)
      })
    }
  }

  private send(b: Batch): void {
    if (this.open.get(b.fd) === b) this.open.delete(b.fd)
    writevFully(b.fd, b.parts, b.start, (err) => {
      for (const d of b.done) d(err)
    })
  }
}
