// WRITE coalescing (src/daemon/sftp/write-batch.ts) and whole writes (session/write-fully.ts) on real files.
import assert from 'node:assert/strict'
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {WriteBatcher} from '../../src/daemon/sftp/write-batch.js'
import {writevFully} from '../../src/daemon/session/write-fully.js'

const dir = mkdtempSync(path.join(tmpdir(), 'ftpcluster-wb-'))
after(() => rmSync(dir, {recursive: true, force: true}))

const piece = (n: number, size: number) => Buffer.alloc(size, n)
const writeAll = (b: WriteBatcher, fd: number, parts: {at: number; data: Buffer}[]) =>
  Promise.all(parts.map(({at, data}) => new Promise<NodeJS.ErrnoException | null>((resolve) => b.write(fd, at, data, resolve))))

describe('SFTP WRITE batches', () => {
  it('contiguous, out-of-order and gapped WRITEs of one turn all land where they were sent, each answered', async () => {
    const file = path.join(dir, 'a')
    const fd = openSync(file, 'w+')
    try {
      const parts = [0, 1, 2, 3, 5, 4, 9].map((i) => ({at: i * 1000, data: piece(i + 1, 1000)}))
      const results = await writeAll(new WriteBatcher(), fd, parts)
      assert.deepEqual(results, parts.map(() => null))
      const got = readFileSync(file)
      assert.equal(got.length, 10_000)
      for (const {at, data} of parts) assert.deepEqual(got.subarray(at, at + 1000), data)
      assert.deepEqual(got.subarray(6000, 9000), Buffer.alloc(3000), 'the gap stays a hole')
    } finally {
      closeSync(fd)
    }
  })

  it('more than one batch holds (64 parts, 1 MiB) is split, in order', async () => {
    const file = path.join(dir, 'b')
    const fd = openSync(file, 'w+')
    try {
      const parts = Array.from({length: 200}, (_, i) => ({at: i * 32 * 1024, data: piece(i % 251, 32 * 1024)}))
      assert.deepEqual(await writeAll(new WriteBatcher(), fd, parts), parts.map(() => null))
      const got = readFileSync(file)
      assert.equal(got.length, 200 * 32 * 1024)
      for (const {at, data} of parts) assert.equal(Buffer.compare(got.subarray(at, at + data.length), data), 0)
    } finally {
      closeSync(fd)
    }
  })

  it('a failed pwritev fails every WRITE of its batch', async () => {
    const file = path.join(dir, 'c')
    closeSync(openSync(file, 'w'))
    const fd = openSync(file, 'r') // not open for writing: EBADF
    try {
      const results = await writeAll(new WriteBatcher(), fd, [{at: 0, data: piece(1, 10)}, {at: 10, data: piece(2, 10)}])
      assert.deepEqual(results.map((e) => e?.code), ['EBADF', 'EBADF'])
    } finally {
      closeSync(fd)
    }
  })

  it('writevFully writes many buffers, empty ones included', async () => {
    const file = path.join(dir, 'd')
    const fd = openSync(file, 'w+')
    try {
      const bufs = [piece(1, 3), Buffer.alloc(0), piece(2, 70_000), piece(3, 1)]
      await new Promise<void>((resolve, reject) => writevFully(fd, bufs, 5, (e) => (e ? reject(e) : resolve())))
      assert.deepEqual(readFileSync(file).subarray(5), Buffer.concat(bufs))
    } finally {
      closeSync(fd)
    }
  })
})
