import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {defaultStripeSettings, type StripeSettings} from '../../src/config/schema.js'
import type {Logger} from '../../src/daemon/log.js'
import {openCatalogue} from '../../src/stripe/catalogue.js'
import type {NodeSpace, PieceInfo, StripeNodeLinks, StripeNodeOps, StripeNodeRef} from '../../src/stripe/contract.js'
import {StripeMaintenance} from '../../src/stripe/maintenance.js'

// A storage node held in memory: the unit double for the links (the real links are tested end to end).
class FakeNode implements StripeNodeOps {
  up = true
  readonly pieces = new Map<string, PieceInfo>()
  constructor(readonly node: StripeNodeRef, private readonly all: Map<string, FakeNode>) {}
  async space(): Promise<NodeSpace> {
    return {capacityBytes: 1e9, usedBytes: 0, freeBytes: 1e9, files: this.pieces.size}
  }
  async inventory(on: (p: PieceInfo) => void): Promise<void> {
    this.check()
    for (const p of [...this.pieces.values()]) on({...p})
  }
  async hash(p: string) {
    const x = this.pieces.get(p)
    return x ? {size: x.size, sha256: x.sha256} : null
  }
  async replicateTo(p: string, target: StripeNodeRef, generation: number): Promise<PieceInfo> {
    this.check()
    const x = this.pieces.get(p)
    if (!x) throw new Error(`${this.node.nodeId}: no ${p}`)
    const copy = {...x, generation}
    this.all.get(target.nodeId)!.pieces.set(p, copy)
    return copy
  }
  async remove(p: string) {
    this.check()
    this.pieces.delete(p)
  }
  async rename() {}
  async mkdir() {}
  async rmdir() {}
  private check() {
    if (!this.up) throw new Error(`node ${this.node.nodeId} is down`)
  }
}

const quiet: Logger = {debug() {}, info() {}, warn() {}, error() {}, child: () => quiet}

function cluster(ids: string[], replicas: number) {
  const nodes = new Map<string, FakeNode>()
  for (const id of ids) nodes.set(id, new FakeNode({nodeId: id, host: '127.0.75.1', port: 14983}, nodes))
  const listeners: ((id: string, up: boolean) => void)[] = []
  const links: StripeNodeLinks = {get: (id) => nodes.get(id), all: () => [...nodes.values()], onChange: (l) => void listeners.push(l)}
  const settings: StripeSettings = {...defaultStripeSettings(), replicas, reReplicateAfterSeconds: 300, nodes: ids.map((nodeId) => ({nodeId, host: '127.0.75.1', port: 14983, capacityBytes: null, state: 'active' as const}))}
  const catalogue = openCatalogue(':memory:')
  let now = 1_000_000
  const m = new StripeMaintenance(
    {catalogue, links, log: quiet, settings: () => settings, busy: new Set(), choose: (_s, exclude) => ids.filter((id) => nodes.get(id)!.up && !exclude.has(id)).slice(0, replicas)},
    () => now,
  )
  const put = (path: string, on: string[], sha = 'aa'.repeat(32)) => {
    const g = catalogue.nextGeneration()
    for (const id of on) nodes.get(id)!.pieces.set(path, {path, size: 3, mtimeMs: 0, owner: 'u', sha256: sha, generation: g})
    catalogue.putFile({path, size: 3, mtimeMs: 0, owner: 'u', sha256: sha, nodes: on, generation: g})
  }
  const setUp = (id: string, up: boolean) => {
    nodes.get(id)!.up = up
    for (const l of listeners) l(id, up)
  }
  return {nodes, catalogue, m, put, setUp, advance: (ms: number) => (now += ms)}
}

describe('stripe maintenance', () => {
  it('rescan rebuilds the catalogue from the inventories, newest generation winning', async () => {
    const c = cluster(['a', 'b'], 2)
    c.put('/x/1', ['a', 'b'])
    c.put('/2', ['a'])
    c.nodes.get('b')!.pieces.set('/2', {path: '/2', size: 5, mtimeMs: 0, owner: 'u', sha256: 'bb'.repeat(32), generation: 99})
    c.catalogue.clear()
    const r = await c.m.rescan()
    assert.deepEqual([r.files, r.conflicts], [2, 1])
    assert.deepEqual(c.catalogue.get('/x/1')?.nodes.sort(), ['a', 'b'])
    assert.equal(c.catalogue.get('/x')?.type, 'dir')
    assert.deepEqual([c.catalogue.get('/2')?.size, c.catalogue.get('/2')?.nodes], [5, ['b']])
    assert.ok(c.catalogue.nextGeneration() > 99, 'the counter passes every piece seen')
  })

  it('rescan drops an entry no node holds, but keeps one that may be on a down node', async () => {
    const c = cluster(['a', 'b'], 1)
    c.put('/gone', ['a'])
    c.nodes.get('a')!.pieces.clear()
    assert.equal((await c.m.rescan()).droppedEntries, 1)
    c.put('/onb', ['b'])
    c.nodes.get('b')!.up = false
    await c.m.rescan()
    assert.deepEqual(c.catalogue.get('/onb')?.nodes, ['b'])
  })

  it('re-replicates only after the grace period, then remerge drops the returning surplus copy', async () => {
    const c = cluster(['a', 'b', 'c'], 2)
    for (let i = 0; i < 30; i++) c.put(`/f${i}`, i % 3 === 0 ? ['a', 'b'] : i % 3 === 1 ? ['b', 'c'] : ['a', 'c'])
    c.m.start(0)
    c.setUp('b', false)
    assert.equal((await c.m.reReplicate()).copied, 0, 'within the grace period nothing is copied')
    c.advance(301_000)
    const r = await c.m.reReplicate()
    assert.deepEqual([r.copied, r.failed, r.unavailable], [20, 0, 0])
    assert.equal(c.catalogue.underReplicated(2, ['a', 'c']).length, 0, 'every file has 2 live copies')
    for (const e of c.catalogue.files('', 100)) assert.ok(!e.nodes.includes('b'))
    c.nodes.get('b')!.up = true
    const back = await c.m.remerge('b')
    assert.deepEqual([back.kept, back.adopted, back.dropped], [0, 0, 20])
    assert.equal(c.nodes.get('b')!.pieces.size, 0)
    c.m.close()
  })

  it('remerge drops stale copies and adopts a matching one a file lacks', async () => {
    const c = cluster(['a', 'b'], 2)
    c.put('/stale', ['a', 'b'])
    c.nodes.get('b')!.pieces.set('/stale', {path: '/stale', size: 3, mtimeMs: 0, owner: 'u', sha256: 'cc'.repeat(32), generation: 1})
    c.put('/thin', ['a'])
    c.nodes.get('b')!.pieces.set('/thin', {...c.nodes.get('a')!.pieces.get('/thin')!})
    c.nodes.get('b')!.pieces.set('/orphan', {path: '/orphan', size: 1, mtimeMs: 0, owner: 'u', sha256: 'dd'.repeat(32), generation: 1})
    const future = c.catalogue.currentGeneration() + 100
    c.nodes.get('b')!.pieces.set('/inflight', {path: '/inflight', size: 1, mtimeMs: 0, owner: 'u', sha256: 'ee'.repeat(32), generation: future})
    const r = await c.m.remerge('b')
    assert.deepEqual([r.kept, r.adopted, r.dropped, r.missing], [0, 1, 2, 0])
    assert.deepEqual(c.catalogue.get('/stale')?.nodes, ['a'])
    assert.deepEqual(c.catalogue.get('/thin')?.nodes, ['a', 'b'])
    assert.ok(c.nodes.get('b')!.pieces.has('/inflight'), 'a piece newer than the snapshot is an upload in progress')
    assert.ok(!c.nodes.get('b')!.pieces.has('/orphan'))
  })

  it('counts a file whose only copies are down as unavailable, not lost', async () => {
    const c = cluster(['a', 'b'], 1)
    c.put('/only-a', ['a'])
    c.m.start(0)
    c.setUp('a', false)
    c.advance(301_000)
    const r = await c.m.reReplicate()
    assert.deepEqual([r.copied, r.unavailable], [0, 1])
    assert.deepEqual(c.catalogue.get('/only-a')?.nodes, ['a'])
    c.m.close()
  })
})
