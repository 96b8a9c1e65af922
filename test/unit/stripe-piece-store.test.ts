// PieceStore: atomic writes with sidecars, inventory, resume by offset, renames, reserved names, crash debris.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {promises as fs, writeSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'
import {PieceError, PieceStore, isReservedName, pathParts} from '../../src/stripe/piece-store.js'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')

async function write(store: PieceStore, vpath: string, text: string, offset = 0, generation = 1) {
  const w = await store.beginWrite(vpath, offset)
  writeSync(w.fd, Buffer.from(text), 0, text.length, offset)
  w.hash.update(text)
  return w.commit({owner: 'alice', generation, mtimeMs: 1_700_000_000_000})
}

async function collect(store: PieceStore) {
  const out = []
  for await (const p of store.inventory()) out.push(p)
  return out
}

describe('stripe piece store', () => {
  it('piece store: a committed piece has its sidecar; inventory lists it with size, owner, sha256, generation', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'pieces-'))
    const store = await PieceStore.open(root)
    const p = await write(store, '/alice/dir/a.txt', 'hello')
    assert.deepEqual(p, {path: '/alice/dir/a.txt', size: 5, mtimeMs: 1_700_000_000_000, owner: 'alice', sha256: sha('hello'), generation: 1})
    assert.equal(await fs.readFile(path.join(root, 'data/alice/dir/a.txt'), 'utf8'), 'hello')
    assert.deepEqual(await collect(store), [p])
    assert.equal(store.usedBytes, 5)
    assert.equal(store.files, 1)
    assert.deepEqual(await store.hash('/alice/dir/a.txt'), {size: 5, sha256: sha('hello')})
  })

  it('piece store: an uncommitted write leaves the old piece whole; an aborted one leaves nothing', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'pieces-'))
    const store = await PieceStore.open(root)
    await write(store, '/f', 'old')
    const w = await store.beginWrite('/f')
    writeSync(w.fd, Buffer.from('new content'))
    assert.equal(await fs.readFile(path.join(root, 'data/f'), 'utf8'), 'old')
    await w.abort()
    assert.deepEqual((await fs.readdir(path.join(root, 'data'))).sort(), ['.f.stripe-meta', 'f'])
  })

  it('piece store: a resumed write keeps the first bytes and hashes the whole content', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'pieces-'))
    const store = await PieceStore.open(root)
    await write(store, '/f', 'hello wxyz')
    const p = await write(store, '/f', ' world', 5, 2)
    assert.equal(await fs.readFile(path.join(root, 'data/f'), 'utf8'), 'hello world')
    assert.equal(p.sha256, sha('hello world'))
    assert.equal(p.size, 11)
    await assert.rejects(store.beginWrite('/f', 99), (e: PieceError) => e.kind === 'invalid-path')
  })

  it('piece store: a directory rename moves its pieces with their sidecars; a file rename restamps the generation', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'pieces-'))
    const store = await PieceStore.open(root)
    await write(store, '/d/x', 'x')
    await write(store, '/d/sub/y', 'yy')
    await store.rename('/d', '/e', 5)
    await store.rename('/e/x', '/e/z', 6)
    const inv = await collect(store)
    assert.deepEqual(inv.map((p) => [p.path, p.size, p.generation]).sort(), [['/e/sub/y', 2, 1], ['/e/z', 1, 6]])
    await assert.rejects(store.rmdir('/e'), (e: PieceError) => e.kind === 'not-empty')
    await store.remove('/e/z')
    await store.remove('/e/sub/y')
    await store.rmdir('/e')
    assert.equal(store.files, 0)
    assert.equal(store.usedBytes, 0)
  })

  it('piece store: reserved names and escapes are refused; part files left by a crash are removed at open', async () => {
    assert.ok(isReservedName('.a.stripe-meta'))
    assert.ok(isReservedName('.a.1234.stripe-part'))
    assert.ok(!isReservedName('a.stripe-meta'))
    for (const bad of ['relative', '/a/../b', '/a/.b.stripe-meta', '/a\0b', '/a\\b']) assert.throws(() => pathParts(bad), PieceError, bad)
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'pieces-'))
    await fs.mkdir(path.join(root, 'data/d'), {recursive: true})
    await fs.writeFile(path.join(root, 'data/d/.f.abc.stripe-part'), 'debris')
    await fs.writeFile(path.join(root, 'data/d/g'), 'no sidecar')
    const store = await PieceStore.open(root)
    assert.deepEqual(await fs.readdir(path.join(root, 'data/d')), ['g'])
    const [g] = await collect(store)
    assert.equal(g.generation, 0, 'a piece without a matching sidecar is reported stale')
    assert.equal(g.sha256, '')
  })
})
