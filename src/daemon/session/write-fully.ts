// Positional writes of upload data that write everything or fail. A file system that fills up in the middle of
// a write takes what still fits and says so only by the count it returns; the rest then fails with ENOSPC.
// A caller that ignores the count acknowledges bytes that were never written, and commits a short file.
import fs from 'node:fs'

/** Rounds allowed for one write: each must make progress, so this bounds a file system that keeps taking crumbs. */
const MAX_ROUNDS = 10_000

function noProgress(): NodeJS.ErrnoException {
  return Object.assign(new Error('the write made no progress (0 bytes written)'), {code: 'EIO'})
}

/** What is left of `buffers` once their first `n` bytes are written. */
function rest(buffers: Buffer[], n: number): Buffer[] {
  let i = 0
  while (i < buffers.length && n >= buffers[i].length) {
    n -= buffers[i].length
    i += 1
  }
  const out = buffers.slice(i)
  if (n > 0) out[0] = out[0].subarray(n)
  return out
}

/** Writes all of `buffers` at `position` (thread pool); `done` gets the first error, or null once all is on file. */
export function writevFully(fd: number, buffers: Buffer[], position: number, done: (err: NodeJS.ErrnoException | null) => void): void {
  let left = 0
  for (const b of buffers) left += b.length
  if (left === 0) return done(null)
  let rounds = 0
  const step = (bufs: Buffer[], at: number) => {
    fs.writev(fd, bufs, at, (err, n) => {
      if (err) return done(err)
      left -= n
      if (left === 0) return done(null)
      if (n === 0 || ++rounds >= MAX_ROUNDS) return done(noProgress())
      step(rest(bufs, n), at + n)
    })
  }
  step(buffers, position)
}

/** Writes all of `data` at `position`, or throws the error that stopped it. */
export function writeFullySync(fd: number, data: Buffer, position: number): void {
  let done = 0
  for (let rounds = 0; done < data.length; rounds++) {
    if (rounds >= MAX_ROUNDS) throw noProgress()
    const n = fs.writeSync(fd, data, done, data.length - done, position + done)
    if (n === 0) throw noProgress()
    done += n
  }
}

/** Writes all of `data` at `position` (thread pool). */
export function writeFully(fd: number, data: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => writevFully(fd, [data], position, (err) => (err ? reject(err) : resolve())))
}
