import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {defaultStripeSettings, type StripeSettings} from '../../src/config/schema.js'
import type {Logger} from '../../src/daemon/log.js'
import {openCatalogue} from '../../src/stripe/catalogue.js'
import type {NodeSpace, PieceInfo, StripeNodeLinks, StripeNodeOps, StripeNodeRef} from '../../src/stripe/contract.js'
import {StripeRelocation} from '../../src/stripe/relocation.js'

const SHA = 'aa'.repeat(32)

// A storage node held in memory: the unit double for the links (the real ones are tested end to end in
// test/integration/stripe-remove-node and stripe-rebalance).
class FakeNode implements StripeNodeOps {
  up = true
  capacity = 1e9
  /** Makes the next copies to this node arrive with other bytes (a bad disk or link). */
  corrupt = false
  readonly pieces = new Map<string, PieceInfo>()
  constructor(readonly node: StripeNodeRef, private readonly all: Map<string, FakeNode>) {}
  private used(): number {
    return [...this.pieces.values()].reduce((a, p) => a + p.size, 0)
  }
  async space(): Promise<NodeSpace> {
    return {capacityBytes: this.capacity, usedBytes: this.used(), freeBytes: this.capacity - this.used(), files: this.pieces.size}
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
    const to = this.all.get(target.nodeId)!
    to.check()
    const copy = {...x, generation, sha256: to.corrupt ? 'ff'.repeat(32) : x.sha256}
    to.pieces.set(p, copy)
    return copy
  }
  async remove(p: string) {
    this.check()
    this.pieces.delete(p)
  }
  async rename() {}
  async mkdir() {}
  async rmdir() {}
  check() {
    if (!this.up) throw new Error(`node ${this.node.nodeId} is down`)
  }
}

const quiet: Logger = {debug() {}, info() {}, warn() {}, error() {}, child: () => quiet}

function cluster(ids: string[], replicas: number) {
  const nodes = new Map<string, FakeNode>()
  for (const id of ids) nodes.set(id, new FakeNode({nodeId: id, host: `h-${id}`, port: 14983}, nodes))
  const links: StripeNodeLinks = {get: (id) => nodes.get(id), all: () => [...nodes.values()], onChange: () => {}}
  const settings: StripeSettings = {...defaultStripeSettings(), replicas, freeSpaceFloorBytes: 0, nodes: ids.map((nodeId) => ({nodeId, host: `h-${nodeId}`, port: 14983, capacityBytes: null, state: 'active' as const}))}
  const catalogue = openCatalogue(':memory:')
  const spaces = new Map<string, NodeSpace>()
  const busy = new Set<string>()
  let chain: Promise<unknown> = Promise.resolve()
  const r = new StripeRelocation({
    catalogue,
    links,
    log: quiet,
    settings: () => settings,
    busy,
    space: (id) => spaces.get(id),
    refreshSpace: async () => {
      for (const n of nodes.values()) if (n.up) spaces.set(n.node.nodeId, await n.space())
    },
    stored: () => {},
    exclusive: (fn) => {
      const next = chain.then(fn)
      chain = next.catch(() => {})
      return next
    },
  })
  const put = (path: string, on: string[], size = 10) => {
    const g = catalogue.nextGeneration()
    for (const id of on) nodes.get(id)!.pieces.set(path, {path, size, mtimeMs: 0, owner: 'u', sha256: SHA, generation: g})
    catalogue.putFile({path, size, mtimeMs: 0, owner: 'u', sha256: SHA, nodes: on, generation: g})
  }
  const drainState = (id: string) => (settings.nodes.find((n) => n.nodeId === id)!.state = 'draining')
  return {nodes, catalogue, settings, r, put, busy, drainState}
}

describe('stripe relocation: drain (remove-node)', () => {
  it('copies every file off the node, verified, then the catalogue forgets it and the node drops its copies', async () => {
    const c = cluster(['a', 'b', 'c'], 2)
    for (let i = 0; i < 12; i++) c.put(`/f${i}`, [['a', 'b'], ['b', 'c'], ['a', 'c']][i % 3])
    const plan = await c.r.drain('c', {force: false, dryRun: true}, () => {})
    assert.deepEqual([plan.files, plan.copies, plan.complete], [8, 8, false])
    assert.equal(c.nodes.get('c')!.pieces.size, 8, 'a dry run changes nothing')
    c.drainState('c')
    const steps: string[] = []
    const r = await c.r.drain('c', {force: false, dryRun: false}, (m) => steps.push(m))
    assert.deepEqual([r.copies, r.dropped, r.lostCount, r.failed, r.complete], [8, 8, 0, 0, true])
    assert.ok(steps.length >= 2, 'progress')
    assert.equal(c.nodes.get('c')!.pieces.size, 0)
    for (const e of c.catalogue.files('', 100)) assert.deepEqual([...e.nodes].sort(), ['a', 'b'], e.path)
  })

  it('a copy whose SHA-256 differs from the catalogue is not accepted: the file stays on the leaving node', async () => {
    const c = cluster(['a', 'b', 'c'], 2)
    c.put('/x', ['a', 'c'])
    c.nodes.get('b')!.corrupt = true
    c.drainState('c')
    const r = await c.r.drain('c', {force: false, dryRun: false}, () => {})
    assert.deepEqual([r.copies, r.failed, r.complete], [0, 1, false])
    assert.deepEqual(c.catalogue.get('/x')!.nodes, ['a', 'c'], 'the catalogue never named the bad copy')
    assert.equal(c.nodes.get('b')!.pieces.has('/x'), false, 'the bad copy was dropped')
    assert.equal(c.nodes.get('c')!.pieces.has('/x'), true, 'the leaving node keeps its copy')
  })

  it('refuses up front when the others cannot hold the files, when too few nodes stay, and when the node is down', async () => {
    const c = cluster(['a', 'b', 'c'], 2)
    c.put('/big', ['a', 'c'], 1000)
    c.nodes.get('b')!.capacity = 500
    await assert.rejects(c.r.drain('c', {force: false, dryRun: true}, () => {}), /cannot hold the files of h-c:14983.*do not fit/)
    c.settings.replicas = 3
    await assert.rejects(c.r.drain('c', {force: false, dryRun: true}, () => {}), /would leave 2 active storage node\(s\), fewer than the 3 copies/)
    c.settings.replicas = 2
    c.nodes.get('b')!.capacity = 1e9
    c.nodes.get('c')!.up = false
    await assert.rejects(c.r.drain('c', {force: false, dryRun: true}, () => {}), (e: Error & {hint?: string}) => /is down/.test(e.message) && /--force/.test(e.hint ?? ''))
  })

  it('--force: copies from the other copies, never contacts the node, keeps lost files named on it', async () => {
    const c = cluster(['a', 'b', 'c', 'd'], 2)
    c.put('/two', ['b', 'c'])
    c.put('/only-c', ['c'])
    c.put('/other-down', ['c', 'd'])
    const dead = c.nodes.get('c')!
    dead.up = false
    c.nodes.get('d')!.up = false
    c.drainState('c')
    const r = await c.r.drain('c', {force: true, dryRun: false}, () => {})
    assert.deepEqual([r.copies, r.dropped, r.lost, r.unavailable, r.complete], [1, 0, ['/only-c'], ['/other-down'], true])
    assert.deepEqual([...c.catalogue.get('/two')!.nodes].sort(), ['a', 'b'])
    assert.deepEqual(c.catalogue.get('/only-c')!.nodes, ['c'], 'a lost file keeps its entry: a recovered disk brings it back')
    assert.deepEqual(c.catalogue.get('/other-down')!.nodes, ['d'], 'it returns with d')
    assert.equal(dead.pieces.size, 3, 'the dead node was not touched')
  })

  it('a file busy with a transfer is left for a later pass, and the drain is incomplete while it stays busy', async () => {
    const c = cluster(['a', 'b', 'c'], 1)
    c.put('/busy', ['c'])
    c.put('/idle', ['c'])
    c.busy.add('/busy')
    c.drainState('c')
    const done = c.r.drain('c', {force: false, dryRun: false}, () => {})
    setTimeout(() => c.busy.delete('/busy'), 700)
    const r = await done
    assert.deepEqual([r.copies, r.busy, r.complete], [2, 0, true])
    assert.equal(c.catalogue.filesOn('c').length, 0)
  })
})

describe('stripe relocation: rebalance', () => {
  it('moves copies onto an empty node until used/capacity is even, never two copies on one node', async () => {
    const c = cluster(['a', 'b', 'c', 'd'], 2)
    for (let i = 0; i < 30; i++) c.put(`/f${i}`, [['a', 'b'], ['b', 'c'], ['a', 'c']][i % 3])
    c.busy.add('/f0')
    const r = await c.r.rebalance(() => {})
    assert.equal(r.failed, 0)
    assert.equal(r.moved, 15)
    assert.deepEqual([...c.catalogue.stats().perNode.values()].map((n) => n.files), [15, 15, 15, 15])
    for (const e of c.catalogue.files('', 100)) {
      assert.equal(new Set(e.nodes).size, 2, `${e.path}: two distinct nodes`)
      for (const id of e.nodes) assert.ok(c.nodes.get(id)!.pieces.has(e.path), `${e.path} is on ${id}`)
    }
    assert.deepEqual([...c.catalogue.get('/f0')!.nodes], ['a', 'b'], 'a busy file is not moved')
    assert.equal([...c.nodes.values()].reduce((a, n) => a + n.pieces.size, 0), 60, 'old copies dropped')
    assert.equal((await c.r.rebalance(() => {})).moved, 0, 'a re-run has nothing to do')
  })
})
