import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import type {PlacementCandidate} from '../../src/stripe/contract.js'
import {createPlacement, rankCandidates} from '../../src/stripe/placement.js'

const GB = 1024 ** 3
const node = (nodeId: string, usedGb: number, extra: Partial<PlacementCandidate> = {}): PlacementCandidate => ({nodeId, up: true, draining: false, capacityBytes: 10 * GB, usedBytes: usedGb * GB, ...extra})
const opts = {replicas: 1, sizeHint: 0, floorBytes: 0}

describe('stripe placement', () => {
  it('chooses the node with the most free space relative to its capacity', () => {
    const choose = createPlacement()
    assert.deepEqual(choose([node('a', 5), node('b', 2), node('c', 8)], opts), ['b'])
    // relative, not absolute: 3 GB free of 4 beats 5 GB free of 10
    assert.deepEqual(choose([node('a', 5), node('b', 1, {capacityBytes: 4 * GB})], opts), ['b'])
  })

  it('round-robins between tied nodes', () => {
    const choose = createPlacement()
    const seen = Array.from({length: 6}, () => choose([node('a', 1), node('b', 1), node('c', 1)], opts)[0])
    assert.deepEqual(seen, ['a', 'b', 'c', 'a', 'b', 'c'])
  })

  it('spreads 60 files over 3 equal nodes as used space grows', () => {
    const choose = createPlacement()
    const used = new Map([['a', 0], ['b', 0], ['c', 0]])
    for (let i = 0; i < 60; i++) {
      const [id] = choose([...used].map(([n, u]) => ({nodeId: n, up: true, draining: false, capacityBytes: 10 * GB, usedBytes: u})), opts)
      used.set(id, used.get(id)! + 1000)
    }
    assert.deepEqual([...used.values()], [20_000, 20_000, 20_000])
  })

  it('never places two replicas on one node, even when the list names it twice', () => {
    const choose = createPlacement()
    const r = choose([node('a', 1), node('a', 1), node('b', 3), node('c', 9)], {...opts, replicas: 2})
    assert.deepEqual(r, ['a', 'b'])
    assert.deepEqual(choose([node('a', 1), node('a', 1)], {...opts, replicas: 2}), ['a'], 'fewer than asked when too few nodes')
  })

  it('skips nodes that are down, draining, excluded or would fall below the floor', () => {
    const choose = createPlacement()
    const cands = [node('down', 0, {up: false}), node('drain', 0, {draining: true}), node('failed', 0), node('full', 9.9), node('ok', 5)]
    assert.deepEqual(choose(cands, {replicas: 3, sizeHint: 0, floorBytes: GB / 2, exclude: new Set(['failed'])}), ['ok'])
    assert.deepEqual(choose([node('ok', 5)], {replicas: 1, sizeHint: 5 * GB, floorBytes: 1}), [], 'the size hint counts against the floor')
    assert.deepEqual(choose([node('zero', 0, {capacityBytes: 0})], opts), [], 'a node without capacity takes nothing')
  })

  it('ranks independently of the order of the candidates', () => {
    const a = rankCandidates([node('x', 1), node('y', 1), node('z', 4)], opts, 0).map((c) => c.nodeId)
    const b = rankCandidates([node('z', 4), node('y', 1), node('x', 1)], opts, 0).map((c) => c.nodeId)
    assert.deepEqual(a, b)
    assert.deepEqual(a, ['x', 'y', 'z'])
  })
})
