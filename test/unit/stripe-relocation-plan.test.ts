import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {DrainPlanner, SpaceModel, balancePairs, fileNeeds, moveGain, pickMove, spread, type BalanceNode, type PlannedFile} from '../../src/stripe/relocation-plan.js'

const MB = 1024 ** 2
const file = (path: string, size: number, nodes: string[]): PlannedFile => ({path, size, nodes})
const bal = (nodeId: string, usedBytes: number, capacityBytes = 100 * MB): BalanceNode => ({nodeId, usedBytes, capacityBytes, freeBytes: capacityBytes - usedBytes})

describe('stripe relocation plan: space model', () => {
  it('books the node with the most free space relative to capacity, skipping holders and the floor', () => {
    const m = new SpaceModel([{nodeId: 'a', capacityBytes: 10 * MB, usedBytes: 5 * MB}, {nodeId: 'b', capacityBytes: 10 * MB, usedBytes: 1 * MB}], MB)
    assert.deepEqual(m.take(MB, 1, new Set()), ['b'])
    assert.deepEqual(m.take(MB, 2, new Set(['b'])), ['a'], 'never the node that holds the file')
    assert.deepEqual(m.take(4 * MB, 1, new Set(['b'])), [], 'a: 10 - 6 - 4 < 1 MB floor')
    assert.equal(m.freeBytes(), (10 - 6 - 1 + 10 - 2 - 1) * MB)
  })
})

describe('stripe relocation plan: drain', () => {
  const ctx = {leaving: 'x', replicas: 2, up: new Set(['a', 'b']), force: false}

  it('needs replicas copies on the other nodes that are up; the leaving node is the first source', () => {
    assert.deepEqual(fileNeeds(file('/f', 1, ['x', 'a']), ctx), {need: 1, sources: ['x', 'a'], outcome: 'ok'})
    assert.deepEqual(fileNeeds(file('/f', 1, ['a', 'b', 'x']), ctx).need, 0)
    // a copy on a node that is down does not count: it may never come back
    assert.deepEqual(fileNeeds(file('/f', 1, ['x', 'down']), ctx).need, 2)
  })

  it('--force: only the other copies are sources; no other copy is lost, copies only on down nodes unavailable', () => {
    const f = {...ctx, force: true}
    assert.deepEqual(fileNeeds(file('/f', 1, ['x', 'a']), f), {need: 1, sources: ['a'], outcome: 'ok'})
    assert.equal(fileNeeds(file('/f', 1, ['x']), f).outcome, 'lost')
    assert.equal(fileNeeds(file('/f', 1, ['x', 'down']), f).outcome, 'unavailable')
  })

  it('plans every copy when the others have room, and counts what does not fit', () => {
    const space = new SpaceModel([{nodeId: 'a', capacityBytes: 7 * MB, usedBytes: 0}, {nodeId: 'b', capacityBytes: 7 * MB, usedBytes: 0}], 0)
    const p = new DrainPlanner(ctx, space)
    p.add(file('/1', 4 * MB, ['x', 'a'])) // → b
    p.add(file('/2', 4 * MB, ['x', 'b'])) // → a
    p.add(file('/3', 4 * MB, ['x'])) // → a and b: 4 + 4 > 7 on either
    const r = p.result()
    assert.deepEqual([r.files, r.copies, r.bytes], [3, 2, 8 * MB])
    assert.deepEqual(r.unplaced, {copies: 2, bytes: 8 * MB})
  })

  it('lists lost and unavailable files under --force without booking space for them', () => {
    const p = new DrainPlanner({...ctx, force: true}, new SpaceModel([{nodeId: 'a', capacityBytes: MB, usedBytes: 0}, {nodeId: 'b', capacityBytes: MB, usedBytes: 0}], 0))
    p.add(file('/lost', 10 * MB, ['x']))
    p.add(file('/later', 10 * MB, ['x', 'down']))
    const r = p.result()
    assert.deepEqual([r.lost, r.lostCount, r.unavailable, r.unplaced.copies], [['/lost'], 1, ['/later'], 0])
  })
})

describe('stripe relocation plan: rebalance', () => {
  it('a move gains only while it evens the nodes out (exact for byte counts of terabytes)', () => {
    assert.ok(moveGain(bal('a', 20 * MB), bal('b', 0), MB) > 0n)
    assert.equal(moveGain(bal('a', 11 * MB), bal('b', 10 * MB), MB), 0n, 'a move that only swaps the imbalance gains nothing')
    assert.ok(moveGain(bal('a', 10 * MB), bal('b', 10 * MB), MB) < 0n)
    const T = 1024 ** 4
    assert.ok(moveGain(bal('a', 3 * T + 2, 8 * T), bal('b', 3 * T, 8 * T), 1) > 0n)
  })

  it('pairs the fullest with the emptiest first, relative to capacity', () => {
    const pairs = balancePairs([bal('a', 50 * MB), bal('b', 10 * MB), bal('c', 10 * MB, 20 * MB)])
    assert.deepEqual(pairs.map(([f, t]) => f.nodeId + t.nodeId), ['ab', 'cb'])
  })

  it('picks the file whose move helps most, never one the target already holds, nor a skipped one', () => {
    const from = bal('a', 30 * MB)
    const to = bal('d', 0)
    const files = [file('/small', MB, ['a', 'b']), file('/big', 14 * MB, ['a', 'b']), file('/on-d', 15 * MB, ['a', 'd']), file('/huge', 40 * MB, ['a'])]
    assert.equal(pickMove(from, to, files, 0)?.path, '/big')
    assert.equal(pickMove(from, to, files, 0, (f) => f.path === '/big')?.path, '/small')
    assert.equal(pickMove(from, {...to, freeBytes: MB / 2}, files, 0), null, 'the target\'s own free space decides too')
  })

  it('moves 60 files from 3 full nodes onto an empty 4th until each holds 15, and then stops', () => {
    const nodes = [bal('a', 0), bal('b', 0), bal('c', 0), bal('d', 0)]
    const files: PlannedFile[] = []
    for (let i = 0; i < 60; i++) {
      const f = file(`/f${i}`, MB, [['a', 'b', 'c'][i % 3]])
      files.push(f)
      nodes[i % 3].usedBytes += MB
    }
    let moves = 0
    for (; moves < 100; moves++) {
      let done = true
      for (const [from, to] of balancePairs(nodes)) {
        const f = pickMove(from, to, files, 0)
        if (!f) continue
        f.nodes = f.nodes.map((n) => (n === from.nodeId ? to.nodeId : n))
        from.usedBytes -= f.size
        to.usedBytes += f.size
        done = false
        break
      }
      if (done) break
    }
    assert.equal(moves, 15)
    assert.deepEqual(nodes.map((n) => n.usedBytes / MB), [15, 15, 15, 15])
    assert.equal(spread(nodes), 0)
  })
})
