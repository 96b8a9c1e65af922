import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {DEFAULT_ADMIN_FILTER, IpFilter, parseCidr} from '../../src/net/ip-filter.js'

describe('ip-filter', () => {
  it('parseCidr accepts IPv4, IPv6 and bare addresses', () => {
    assert.equal(parseCidr('10.0.0.0/8').prefix, 8)
    assert.equal(parseCidr('::1').prefix, 128)
    assert.equal(parseCidr('fc00::/7').family, 6)
    assert.equal(parseCidr('192.168.1.7').prefix, 32)
  })

  it('parseCidr names what is wrong', () => {
    assert.throws(() => parseCidr('10.0.0.0/33'), /prefix length must be 0-32/)
    assert.throws(() => parseCidr('banana'), /not an IPv4 or IPv6/)
    assert.throws(() => parseCidr('1.2.3.4/8/9'), /not an address or CIDR/)
    assert.throws(() => parseCidr('::1/129'), /0-128/)
  })

  it('default admin filter allows loopback and LAN, denies the rest', () => {
    const f = new IpFilter(DEFAULT_ADMIN_FILTER)
    for (const a of ['127.0.0.1', '127.0.0.2', '::1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.5.5', 'fd00::1', '::ffff:10.0.0.1']) {
      assert.equal(f.allows(a), true, a)
    }
    for (const a of ['8.8.8.8', '172.32.0.1', '2001:db8::1', '::ffff:8.8.8.8', '', 'garbage']) assert.equal(f.allows(a), false, a)
  })

  it('first matching rule wins', () => {
    const f = new IpFilter([{action: 'deny', cidr: '127.0.0.9'}, {action: 'allow', cidr: '127.0.0.0/8'}])
    assert.equal(f.allows('127.0.0.9'), false)
    assert.equal(f.allows('127.0.0.8'), true)
    assert.deepEqual(f.check('127.0.0.9').rule, {action: 'deny', cidr: '127.0.0.9'})
  })

  it('no rule means deny; /0 means everyone of that family', () => {
    assert.equal(new IpFilter([]).allows('127.0.0.1'), false)
    const all4 = new IpFilter([{action: 'allow', cidr: '0.0.0.0/0'}])
    assert.equal(all4.allows('1.2.3.4'), true)
    assert.equal(all4.allows('::2'), false)
  })

  it('matches IPv6 prefixes that are not byte aligned', () => {
    const f = new IpFilter([{action: 'allow', cidr: '2001:db8:8000::/33'}])
    assert.equal(f.allows('2001:db8:8000::1'), true)
    assert.equal(f.allows('2001:db8:7fff::1'), false)
  })
})
