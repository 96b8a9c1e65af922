// RequestQueue: replies leave in request order; READ runs and non-overlapping WRITE runs overlap; barriers
// wait for everything before them; stop drops what has not started and waits for what runs.
import assert from 'node:assert/strict'
import {test} from 'node:test'
import {RequestQueue, type OpKind} from '../../src/daemon/sftp/request-queue.js'

function harness() {
  const q = new RequestQueue()
  const started: number[] = []
  const replies: number[] = []
  const finishers = new Map<number, () => void>()
  const add = (n: number, kind: OpKind, range?: {handle: number; start: number; end: number}) =>
    q.submit({kind, ...range, run: (finish) => {
      started.push(n)
      finishers.set(n, () => finish(() => replies.push(n)))
    }})
  const done = (n: number) => finishers.get(n)!()
  return {q, started, replies, add, done}
}

test('RequestQueue: replies of overlapping READs leave in request order whatever order they finish in', () => {
  const h = harness()
  for (let n = 1; n <= 3; n++) h.add(n, 'read')
  assert.deepEqual(h.started, [1, 2, 3], 'reads run together')
  h.done(3)
  h.done(2)
  assert.deepEqual(h.replies, [])
  h.done(1)
  assert.deepEqual(h.replies, [1, 2, 3])
})

test('RequestQueue: a barrier waits for earlier requests and holds back later ones', () => {
  const h = harness()
  h.add(1, 'write', {handle: 1, start: 0, end: 10})
  h.add(2, 'write', {handle: 1, start: 10, end: 20})
  h.add(3, 'barrier')
  h.add(4, 'read')
  assert.deepEqual(h.started, [1, 2])
  h.done(2)
  h.done(1)
  assert.deepEqual(h.started, [1, 2, 3], 'the CLOSE starts once both writes are done')
  h.done(3)
  assert.deepEqual(h.started, [1, 2, 3, 4])
  h.done(4)
  assert.deepEqual(h.replies, [1, 2, 3, 4])
})

test('RequestQueue: overlapping WRITEs on one handle run one after the other; other handles overlap', () => {
  const h = harness()
  h.add(1, 'write', {handle: 1, start: 0, end: 10})
  h.add(2, 'write', {handle: 2, start: 0, end: 10})
  h.add(3, 'write', {handle: 1, start: 5, end: 15})
  h.add(4, 'write', {handle: 2, start: 20, end: 30})
  assert.deepEqual(h.started, [1, 2], 'the overlapping write waits, and so does everything after it')
  h.done(1)
  assert.deepEqual(h.started, [1, 2, 3, 4])
})

test('RequestQueue: a switch between READ and WRITE waits for the running kind to finish', () => {
  const h = harness()
  h.add(1, 'write', {handle: 1, start: 0, end: 10})
  h.add(2, 'read')
  assert.deepEqual(h.started, [1])
  h.done(1)
  assert.deepEqual(h.started, [1, 2])
})

test('RequestQueue: synchronous finishes of a long burst neither recurse deeply nor reorder', () => {
  const q = new RequestQueue()
  const replies: number[] = []
  for (let n = 0; n < 50_000; n++) q.submit({kind: n % 2 ? 'barrier' : 'read', run: (finish) => finish(() => replies.push(n))})
  assert.equal(replies.length, 50_000)
  assert.ok(replies.every((v, k) => v === k))
})

test('RequestQueue: stop drops what has not started, waits for what runs, and sends no more replies', async () => {
  const h = harness()
  h.add(1, 'read')
  h.add(2, 'barrier')
  let stopped = false
  const p = h.q.stop().then(() => (stopped = true))
  await Promise.resolve()
  assert.equal(stopped, false, 'the running read still holds its fd')
  h.done(1)
  await p
  assert.deepEqual(h.started, [1])
  assert.deepEqual(h.replies, [])
})

test('RequestQueue: while mayStart says no nothing starts; kick starts what waited, still in order', () => {
  let open = false
  const q = new RequestQueue(() => open)
  const started: number[] = []
  const replies: number[] = []
  for (let n = 1; n <= 3; n++) q.submit({kind: n === 2 ? 'barrier' : 'read', run: (finish) => (started.push(n), finish(() => replies.push(n)))})
  assert.deepEqual(started, [])
  assert.equal(q.pending, 3)
  open = true
  q.kick()
  assert.deepEqual(started, [1, 2, 3])
  assert.deepEqual(replies, [1, 2, 3])
  assert.equal(q.pending, 0)
})
