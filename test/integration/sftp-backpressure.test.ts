// SFTP backpressure against a real node: a raw client pipelines thousands of 32 KiB WRITEs and READs without
// waiting while it does not read the replies. The server must stop opening the channel window (so the client
// waits) instead of holding everything: every request then succeeds in order, the data is byte-identical, and
// the workers' RSS stays bounded. Once on one channel, once on several channels of one connection.
// Addresses: 127.0.130.2 (node).
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {closeSync, openSync, readFileSync, writeSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {clients, startNode, type Clients, type Target} from '../helpers/interop.js'
import type {TestNode} from '../helpers/node-process.js'
import {FX, PFLAGS, R, RawSftp, T, attrs, str, u32, u64} from '../helpers/raw-sftp.js'
import {needs} from '../helpers/tools.js'

const NODE = '127.0.130.2'
const BLOCK = 32 * 1024
/** Generous: without backpressure one worker held every byte sent (it reached 1 GB in the 8-stream bench). */
const RSS_BOUND = 300 * 1024 * 1024

/** Block k of a test stream: its index up front, then a byte pattern of the stream and the index. */
function block(stream: number, k: number): Buffer {
  const b = Buffer.alloc(BLOCK, (stream * 37 + k * 11) & 0xff)
  b.writeUInt32BE(k, 0)
  b.writeUInt32BE(stream, 4)
  return b
}

/** RSS of the node's worker processes (the children of the supervisor), in bytes. */
function workerRss(pid: number): number[] {
  let children: string[] = []
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
  } catch {
    return []
  }
  return children.flatMap((c) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${c}/status`, 'utf8'))
      return m ? [Number(m[1]) * 1024] : []
    } catch {
      return []
    }
  })
}

/** Samples the workers' largest RSS every 50 ms until stopped. */
function rssMonitor(pid: number): {peak(): number; stop(): void} {
  let peak = 0
  const sample = () => (peak = Math.max(peak, ...workerRss(pid), 0))
  sample()
  const t = setInterval(sample, 50)
  return {peak: () => (sample(), peak), stop: () => clearInterval(t)}
}

async function poll(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Internals of ssh2's client channel: the window the server granted us, and what we could not send yet. */
function clientWindow(s: RawSftp): number {
  return (s.channel as unknown as {outgoing: {window: number}}).outgoing.window
}

interface Burst {
  s: RawSftp
  stream: number
  reads: number
  writes: number
  firstId: number
  readHandle: Buffer
  writeHandle: Buffer
  name: string
}

/** Opens the source and a new upload, stops reading replies, then sends `reads` READs and `writes` WRITEs at once. */
async function startBurst(s: RawSftp, stream: number, reads: number, writes: number): Promise<Burst> {
  const r = await s.call(T.OPEN, str('source.bin'), u32(PFLAGS.READ), attrs())
  assert.equal(r.type, R.HANDLE, r.message)
  const name = `upload-${stream}.bin`
  const w = await s.call(T.OPEN, str(name), u32(PFLAGS.WRITE | PFLAGS.CREAT | PFLAGS.TRUNC), attrs())
  assert.equal(w.type, R.HANDLE, w.message)
  s.channel.pause()
  let firstId = 0
  for (let k = 0; k < reads; k++) {
    const id = s.send(T.READ, str(r.data!), u64(k * BLOCK), u32(BLOCK))
    if (k === 0) firstId = id
  }
  for (let k = 0; k < writes; k++) s.send(T.WRITE, str(w.data!), u64(k * BLOCK), str(block(stream, k)))
  return {s, stream, reads, writes, firstId, readHandle: r.data!, writeHandle: w.data!, name}
}

/** Resumes reading and checks every reply: in request order, READs byte-identical, WRITEs OK; then CLOSEs. */
async function finishBurst(b: Burst, source: (k: number) => Buffer): Promise<void> {
  b.s.channel.resume()
  const total = b.reads + b.writes
  for (let done = 0; done < total; ) {
    const batch = await b.s.take(Math.min(256, total - done), 120_000)
    for (const r of batch) {
      const k = done++
      assert.equal(r.id, b.firstId + k, 'replies in request order')
      if (k < b.reads) {
        assert.equal(r.type, R.DATA, `READ ${k}: ${r.message}`)
        assert.ok(r.data!.equals(source(k)), `READ ${k} of stream ${b.stream} is byte-identical`)
      } else {
        assert.equal(r.code, FX.OK, `WRITE ${k - b.reads}: ${r.message}`)
      }
    }
  }
  assert.equal((await b.s.call(T.CLOSE, str(b.readHandle))).code, FX.OK)
  const c = await b.s.call(T.CLOSE, str(b.writeHandle))
  assert.equal(c.code, FX.OK, c.message)
}

function expectedHash(stream: number, writes: number): string {
  const h = createHash('sha256')
  for (let k = 0; k < writes; k++) h.update(block(stream, k))
  return h.digest('hex')
}

describe('SFTP backpressure against a node', {skip: needs('ssh-keygen')}, () => {
  let c: Clients
  let node: TestNode
  let t: Target
  const SOURCE_BLOCKS = 4000

  before(async () => {
    c = clients()
    const n = await startNode(c.root, NODE, c.key + '.pub')
    node = n.node
    t = n.target
    const fd = openSync(path.join(t.home, 'source.bin'), 'w')
    for (let k = 0; k < SOURCE_BLOCKS; k++) writeSync(fd, block(0, k))
    closeSync(fd)
  })
  after(async () => {
    await c?.cleanup()
    await node?.stop()
  })

  const connect = () => RawSftp.connect({host: t.host, port: t.port, username: t.user, privateKeyFile: c.key})

  it('thousands of pipelined 32 KiB READs and WRITEs on one channel, replies unread: the window closes, RSS stays bounded, all succeed in order', async (tc) => {
    const rss = rssMonitor(node.process!.pid!)
    const s = await connect()
    try {
      const b = await startBurst(s, 1, SOURCE_BLOCKS, 6000)
      // The server holds a bounded part and stops granting window: the client is left with unsent data.
      await poll(() => clientWindow(s) === 0 && s.channel.writableLength > 0, 'the server to stop granting window')
      await new Promise((r) => setTimeout(r, 1000)) // let a server without a bound show it
      const held = rss.peak()
      assert.ok(held < RSS_BOUND, `worker RSS ${(held / 2 ** 20).toFixed(0)} MiB while the client was not reading (bound ${RSS_BOUND / 2 ** 20} MiB)`)
      await finishBurst(b, (k) => block(0, k))
      const got = createHash('sha256').update(readFileSync(path.join(t.home, b.name))).digest('hex')
      assert.equal(got, expectedHash(1, 6000), 'the upload is byte-identical')
      const peak = rss.peak()
      tc.diagnostic(`worker RSS: ${(held / 2 ** 20).toFixed(0)} MiB while held, ${(peak / 2 ** 20).toFixed(0)} MiB peak`)
      assert.ok(peak < RSS_BOUND, `worker RSS peaked at ${(peak / 2 ** 20).toFixed(0)} MiB (bound ${RSS_BOUND / 2 ** 20} MiB)`)
    } finally {
      rss.stop()
      s.close()
    }
  })

  it('six channels of one connection pipelining at once: the connection bound holds, every channel finishes in order', async (tc) => {
    const rss = rssMonitor(node.process!.pid!)
    const first = await connect()
    const channels = [first, ...(await Promise.all(Array.from({length: 5}, () => RawSftp.open(first.conn))))]
    try {
      const bursts = await Promise.all(channels.map((s, k) => startBurst(s, 10 + k, 600, 1200)))
      await poll(() => channels.every((s) => clientWindow(s) === 0 || s.channel.writableLength === 0) && channels.some((s) => s.channel.writableLength > 0), 'the server to stop granting window')
      await new Promise((r) => setTimeout(r, 1000))
      const held = rss.peak()
      assert.ok(held < RSS_BOUND, `worker RSS ${(held / 2 ** 20).toFixed(0)} MiB while the client was not reading (bound ${RSS_BOUND / 2 ** 20} MiB)`)
      await Promise.all(bursts.map((b) => finishBurst(b, (k) => block(0, k))))
      for (const b of bursts) {
        const got = createHash('sha256').update(readFileSync(path.join(t.home, b.name))).digest('hex')
        assert.equal(got, expectedHash(b.stream, b.writes), `upload of channel ${b.stream} is byte-identical`)
      }
      const peak = rss.peak()
      tc.diagnostic(`worker RSS: ${(held / 2 ** 20).toFixed(0)} MiB while held, ${(peak / 2 ** 20).toFixed(0)} MiB peak`)
      assert.ok(peak < RSS_BOUND, `worker RSS peaked at ${(peak / 2 ** 20).toFixed(0)} MiB (bound ${RSS_BOUND / 2 ** 20} MiB)`)
    } finally {
      rss.stop()
      first.close()
    }
  })
})
