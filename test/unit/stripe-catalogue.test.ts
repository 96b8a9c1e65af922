import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {CatalogueError, openCatalogue} from '../../src/stripe/catalogue.js'

const dir = mkdtempSync(path.join(tmpdir(), 'stripe-catalogue-'))
after(() => rmSync(dir, {recursive: true, force: true}))
let n = 0
const fresh = () => openCatalogue(path.join(dir, `c${++n}`, 'catalogue.db'))
const file = (p: string, nodes: string[], size = 10) => ({path: p, size, mtimeMs: 1_700_000_000_000, owner: 'alice', sha256: 'ab'.repeat(32), nodes})
const code = (c: string) => (e: unknown) => e instanceof CatalogueError && e.code === c

describe('stripe catalogue', () => {
  it('records a file with its parents and lists children sorted by name', () => {
    const c = fresh()
    c.putFile(file('/a/b/z.txt', ['n1']))
    c.putFile(file('/a/b/a.txt', ['n1', 'n2']))
    c.mkdir('/a/b/m', 'bob')
    assert.equal(c.get('/a')?.type, 'dir')
    assert.deepEqual(c.list('/a/b').map((e) => e.path), ['/a/b/a.txt', '/a/b/m', '/a/b/z.txt'])
    assert.deepEqual(c.list('/a/b', 1).map((e) => e.path), ['/a/b/a.txt'])
    assert.deepEqual(c.get('/a/b/a.txt')?.nodes, ['n1', 'n2'])
    assert.equal(c.get('/')?.type, 'dir')
    assert.deepEqual(c.list('/').map((e) => e.path), ['/a'])
    assert.throws(() => c.list('/nope'), code('ENOENT'))
    assert.throws(() => c.list('/a/b/z.txt'), code('ENOTDIR'))
    assert.throws(() => c.putFile(file('/a/b/z.txt/x', ['n1'])), code('ENOTDIR'))
    assert.throws(() => c.putFile(file('/a/b', ['n1'])), code('EISDIR'))
    assert.throws(() => c.get('a/../b'), code('EINVAL'))
    c.close()
  })

  it('overwrites a file, keeping the counters right', () => {
    const c = fresh()
    c.putFile(file('/f', ['n1'], 100))
    const e = c.putFile(file('/f', ['n2', 'n3'], 7))
    assert.deepEqual(c.get('/f')?.nodes, ['n2', 'n3'])
    assert.equal(c.get('/f')?.generation, e.generation)
    const s = c.stats()
    assert.deepEqual([s.files, s.dirs, s.bytes], [1, 0, 7])
    assert.deepEqual([...s.perNode].sort(), [['n2', {files: 1, bytes: 7}], ['n3', {files: 1, bytes: 7}]])
    c.close()
  })

  it('removes files and empty directories only', () => {
    const c = fresh()
    c.putFile(file('/d/f', ['n1']))
    assert.throws(() => c.remove('/d'), code('ENOTEMPTY'))
    c.remove('/d/f')
    c.remove('/d')
    c.remove('/d') // already gone: nothing to do
    assert.equal(c.get('/d'), undefined)
    assert.deepEqual([c.stats().files, c.stats().dirs, c.stats().perNode.size], [0, 0, 0])
    assert.throws(() => c.remove('/'), code('EINVAL'))
    c.close()
  })

  it('renames a directory with its whole subtree, and not its namesake siblings', () => {
    const c = fresh()
    c.putFile(file('/d/x/1', ['n1']))
    c.putFile(file('/d/2', ['n2']))
    c.putFile(file('/d0', ['n1'])) // sorts right after the subtree's range
    c.putFile(file('/d-sibling', ['n1']))
    c.rename('/d', '/e/f')
    assert.equal(c.get('/d'), undefined)
    assert.deepEqual(c.list('/e/f').map((e) => e.path), ['/e/f/2', '/e/f/x'])
    assert.deepEqual(c.get('/e/f/x/1')?.nodes, ['n1'])
    assert.ok(c.get('/d0') && c.get('/d-sibling'))
    assert.deepEqual(c.filesOn('n1').map((e) => e.path), ['/d-sibling', '/d0', '/e/f/x/1'])
    assert.throws(() => c.rename('/e', '/e/f/g'), code('EINVAL'))
    assert.throws(() => c.rename('/d0', '/d-sibling'), code('EEXIST'))
    assert.throws(() => c.rename('/missing', '/m2'), code('ENOENT'))
    assert.equal(c.stats().files, 4)
    c.close()
  })

  it('pages files per node and finds under-replicated files among live nodes', () => {
    const c = fresh()
    for (let i = 0; i < 25; i++) c.putFile(file(`/f${String(i).padStart(2, '0')}`, i % 2 ? ['a', 'b'] : ['a']))
    const page1 = c.filesOn('a', '', 10)
    const page2 = c.filesOn('a', page1.at(-1)!.path, 100)
    assert.equal(page1.length + page2.length, 25)
    assert.equal(c.filesOn('b').length, 12)
    assert.equal(c.underReplicated(2, ['a', 'b']).length, 13)
    assert.equal(c.underReplicated(2, ['a']).length, 25, 'a down node does not count')
    assert.equal(c.underReplicated(1, ['b']).length, 13)
    assert.equal(c.underReplicated(2, ['a', 'b'], 5).length, 5)
    c.setNodes('/f00', ['a', 'c'])
    assert.equal(c.underReplicated(2, ['a', 'c']).filter((e) => e.path === '/f00').length, 0)
    assert.equal(c.stats().perNode.get('c')?.files, 1)
    c.close()
  })

  it('hands out increasing generations that never repeat after a reopen', () => {
    const file0 = path.join(dir, 'gen', 'catalogue.db')
    const c = openCatalogue(file0)
    const g1 = c.nextGeneration()
    const g2 = c.putFile(file('/x', ['n1'])).generation
    assert.ok(g2 > g1)
    c.close()
    const c2 = openCatalogue(file0)
    assert.ok(c2.nextGeneration() > g2)
    c2.advanceGeneration(1_000_000)
    assert.ok(c2.nextGeneration() > 1_000_000)
    c2.close()
    const c3 = openCatalogue(file0)
    assert.ok(c3.nextGeneration() > 1_000_000, 'an advanced counter is durable too')
    c3.close()
  })

  it('keeps every acknowledged write across a kill -9 of the writing process', () => {
    const db = path.join(dir, 'kill', 'catalogue.db')
    // the child writes 200 entries, printing each after putFile returns, then SIGKILLs itself
    const mod = new URL('../../src/stripe/catalogue.js', import.meta.url).href
    const script = `import {openCatalogue} from ${JSON.stringify(mod)}
const c = openCatalogue(${JSON.stringify(db)})
for (let i = 0; i < 200; i++) { c.putFile({path: '/k/' + i, size: i, mtimeMs: 0, owner: 'u', sha256: null, nodes: ['n1']}); process.stdout.write(i + '\\n') }
process.kill(process.pid, 'SIGKILL')`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8', timeout: 60_000})
    assert.equal(r.signal, 'SIGKILL', r.stderr)
    const acked = r.stdout.trim().split('\n').length
    assert.equal(acked, 200)
    const c = openCatalogue(db)
    assert.equal(c.list('/k').length, acked)
    assert.equal(c.stats().files, acked)
    c.close()
  })
})
