// ChannelFlow / ConnectionFlow against a stand-in for ssh2's SFTP channel (its push, window and send queue):
// past a bound push tells ssh2 not to re-open the window; below half of it the window is re-opened once;
// queued replies hold back new requests until they drain; a connection's channels share one byte bound.
import assert from 'node:assert/strict'
import {test} from 'node:test'
import type {SFTPWrapper} from 'ssh2'
import {ChannelFlow, ConnectionFlow} from '../../src/daemon/sftp/flow-control.js'

const WINDOW = 2 * 1024 * 1024

function fakeChannel() {
  const adjusts: number[] = []
  const ch = {
    incoming: {window: WINDOW},
    outgoing: {id: 7, state: 'open'},
    _buffer: [] as Buffer[],
    _protocol: {channelWindowAdjust: (_id: number, n: number) => adjusts.push(n)},
    pushed: 0,
    push(data: Buffer | null): boolean | undefined {
      if (data) this.pushed += 1
      return undefined
    },
  }
  /** What ssh2's server does with CHANNEL_DATA: window down, push, re-open unless push said false. */
  const receive = (n: number) => {
    ch.incoming.window -= n
    if (ch.push(Buffer.alloc(1)) === false) return
    if (ch.incoming.window <= WINDOW / 2) {
      const amt = WINDOW - ch.incoming.window
      ch.incoming.window += amt
      adjusts.push(amt)
    }
  }
  return {ch, adjusts, receive, sftp: ch as unknown as SFTPWrapper}
}

const LIMITS = {requests: 10, inBytes: 1000, outBytes: 500}

test('ChannelFlow: past the request bound the window stays shut; below half of it it is re-opened', () => {
  const f = fakeChannel()
  let pending: number
  const flow = new ChannelFlow(f.sftp, () => pending, () => {}, undefined, LIMITS)
  pending = 10
  const before = f.adjusts.length
  for (let k = 0; k < 6; k++) f.receive(WINDOW / 8)
  assert.equal(f.adjusts.length, before, 'no window granted past the bound')
  assert.equal(f.ch.incoming.window, WINDOW / 4)
  const adjustsWhenHeld = f.adjusts.length
  pending = 5
  flow.answered(0)
  assert.equal(f.adjusts.length, adjustsWhenHeld, 'not yet: 5 is half the bound')
  pending = 4
  flow.answered(0)
  assert.equal(f.adjusts.length, adjustsWhenHeld + 1)
  assert.equal(f.ch.incoming.window, WINDOW)
  assert.equal(f.adjusts.at(-1), WINDOW * 3 / 4)
})

test('ChannelFlow: WRITE bytes held count toward the bound and free it when answered', () => {
  const f = fakeChannel()
  const flow = new ChannelFlow(f.sftp, () => 0, () => {}, undefined, LIMITS)
  flow.takeIn(1200)
  f.receive(WINDOW * 0.6)
  assert.equal(f.adjusts.length, 0)
  flow.answered(1200)
  assert.deepEqual(f.adjusts, [WINDOW * 0.6])
})

test('ChannelFlow: replies queued for a shut client window hold back new requests until ssh2 drains them', () => {
  const f = fakeChannel()
  let resumed = 0
  const flow = new ChannelFlow(f.sftp, () => 0, () => (resumed += 1), undefined, LIMITS)
  assert.equal(flow.mayStart(), true)
  f.ch._buffer.push(Buffer.alloc(600))
  assert.equal(flow.mayStart(), false)
  flow.drained()
  assert.equal(resumed, 0, 'still queued')
  f.ch._buffer.length = 0
  flow.drained()
  assert.equal(resumed, 1)
})

test('ConnectionFlow: the channels of one connection share the byte bound', () => {
  const conn = new ConnectionFlow({inBytes: 1000, outBytes: 500})
  const a = fakeChannel()
  const b = fakeChannel()
  const fa = new ChannelFlow(a.sftp, () => 0, () => {}, conn, {requests: 100, inBytes: 800, outBytes: 400})
  new ChannelFlow(b.sftp, () => 0, () => {}, conn, {requests: 100, inBytes: 800, outBytes: 400})
  fa.takeIn(700)
  b.receive(WINDOW * 0.6)
  assert.deepEqual(b.adjusts, [WINDOW * 0.6], 'b alone is under every bound')
  fa.takeIn(400)
  b.receive(WINDOW * 0.6)
  assert.deepEqual(b.adjusts, [WINDOW * 0.6], 'the connection is over its bound: b waits too')
  fa.answered(1100)
  assert.deepEqual(b.adjusts, [WINDOW * 0.6, WINDOW * 0.6], 'answers on a re-open b')
})
