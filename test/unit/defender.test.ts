import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {DEFAULT_DEFENDER} from '../../src/config/defaults.js'
import {Defender} from '../../src/net/defender.js'
import {ConnectionGate} from '../../src/net/connection-gate.js'
import {DEFAULT_LIMITS} from '../../src/config/defaults.js'

describe('defender', () => {
  it('counts checks in flight: parallel guesses get no more checks than the threshold, parallel good logins all pass', async () => {
    const d = new Defender({...DEFAULT_DEFENDER, threshold: 15}, 100, () => Date.now())
    // 96 parallel wrong guesses: each check takes a tick and fails
    let checked = 0
    const guess = async () => {
      if (!(await d.begin('127.0.50.9', 2000))) return
      checked++
      await new Promise((r) => setImmediate(r))
      d.recordFailure('127.0.50.9')
      d.end('127.0.50.9')
    }
    await Promise.all(Array.from({length: 96}, guess))
    assert.equal(checked, 15)
    assert.equal(d.isBanned('127.0.50.9'), true)
    assert.equal(await d.begin('127.0.50.9'), false)
    // 40 parallel good logins from another address: delayed at most, never refused
    let ok = 0
    await Promise.all(Array.from({length: 40}, async () => {
      if (!(await d.begin('127.0.50.10', 2000))) return
      await new Promise((r) => setImmediate(r))
      d.recordSuccess('127.0.50.10')
      d.end('127.0.50.10')
      ok++
    }))
    assert.equal(ok, 40)
  })

  it('bans an address at the threshold, not others', () => {
    let now = 1_000_000
    const d = new Defender({...DEFAULT_DEFENDER, threshold: 3}, 100, () => now)
    assert.equal(d.recordFailure('127.0.0.5'), false)
    assert.equal(d.recordFailure('127.0.0.5'), false)
    assert.equal(d.recordFailure('127.0.0.5'), true)
    assert.equal(d.isBanned('127.0.0.5'), true)
    assert.equal(d.isBanned('127.0.0.6'), false)
    now += DEFAULT_DEFENDER.banSeconds * 1000 + 1
    assert.equal(d.isBanned('127.0.0.5'), false, 'the ban expires on time')
  })

  it('grows the ban by banGrowth on repeat offences', () => {
    let now = 0
    const d = new Defender({...DEFAULT_DEFENDER, threshold: 1, banSeconds: 100, banGrowth: 1.5}, 100, () => now)
    d.recordFailure('a')
    assert.equal(d.banRemaining('a'), 100_000)
    now += 100_001
    d.recordFailure('a')
    assert.equal(d.banRemaining('a'), 150_000)
  })

  it('scores outside the window do not add up', () => {
    let now = 0
    const d = new Defender({...DEFAULT_DEFENDER, threshold: 2, windowSeconds: 10}, 100, () => now)
    d.recordFailure('a')
    now += 11_000
    assert.equal(d.recordFailure('a'), false)
  })

  it('keeps the table bounded', () => {
    const d = new Defender({...DEFAULT_DEFENDER}, 1000)
    for (let i = 0; i < 5000; i++) d.recordFailure(`10.0.${i >> 8}.${i & 255}`)
    assert.equal(d.size, 1000)
  })
})

describe('connection-gate', () => {
  const gate = () => new ConnectionGate('admin', [{action: 'allow', cidr: '127.0.0.0/8'}], DEFAULT_LIMITS, new Defender(DEFAULT_DEFENDER))

  it('refuses filtered addresses naming the site', () => {
    const r = gate().admitAddress('8.8.8.8')
    assert.equal(r.ok, false)
    assert.match(!r.ok ? r.message : '', /admin site's IP filter/)
  })

  it('caps connections per address and in total, and frees slots on release', () => {
    const g = new ConnectionGate('admin', [{action: 'allow', cidr: '127.0.0.0/8'}], {...DEFAULT_LIMITS, perAddress: 3, total: 4, unauthenticatedPerAddress: 2}, new Defender(DEFAULT_DEFENDER))
    const a = g.admitAddress('127.0.0.2')
    const b = g.admitAddress('127.0.0.2')
    assert.ok(a.ok && b.ok)
    const c = g.admitAddress('127.0.0.2')
    assert.equal(c.ok ? '' : c.reason, 'too-many-unauthenticated')
    if (a.ok) a.authenticated()
    assert.ok(g.admitAddress('127.0.0.2').ok)
    const e = g.admitAddress('127.0.0.2')
    assert.equal(e.ok ? '' : e.reason, 'too-many-per-address')
    assert.ok(g.admitAddress('127.0.0.3').ok)
    const f = g.admitAddress('127.0.0.4')
    assert.equal(f.ok ? '' : f.reason, 'too-many-total')
    if (b.ok) b.release()
    assert.ok(g.admitAddress('127.0.0.4').ok)
  })

  it('refuses banned addresses first', () => {
    const defender = new Defender({...DEFAULT_DEFENDER, threshold: 1})
    const g = new ConnectionGate('files', [{action: 'allow', cidr: '0.0.0.0/0'}], DEFAULT_LIMITS, defender)
    defender.recordFailure('127.0.0.9')
    const r = g.admitAddress('127.0.0.9')
    assert.equal(r.ok ? '' : r.reason, 'banned')
  })
})
