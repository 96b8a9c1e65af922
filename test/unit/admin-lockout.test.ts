import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {findLockouts, guardAdminFilter} from '../../src/cli/admin-lockout.js'
import type {IpRule} from '../../src/config/schema.js'

const current: IpRule[] = [{action: 'allow', cidr: '127.0.0.0/8'}, {action: 'allow', cidr: '10.0.0.0/8'}]
const subjects = [{address: '10.0.0.2', who: 'the primary'}, {address: '127.0.0.1', who: 'this machine'}]

describe('admin-lockout', () => {
  it('finds a subject a new deny rule would match, with the rule and its position', () => {
    const next: IpRule[] = [{action: 'deny', cidr: '10.0.0.0/24'}, ...current]
    assert.deepEqual(findLockouts(current, next, subjects), [
      {address: '10.0.0.2', who: 'the primary', rule: {action: 'deny', cidr: '10.0.0.0/24'}, position: 1},
    ])
  })

  it('finds a subject no rule allows any more (a removed allow rule)', () => {
    const next: IpRule[] = [{action: 'allow', cidr: '10.0.0.0/8'}]
    const [l] = findLockouts(current, next, subjects)
    assert.equal(l.address, '127.0.0.1')
    assert.equal(l.rule, null)
  })

  it('accepts a change that keeps every subject allowed', () => {
    const next: IpRule[] = [{action: 'deny', cidr: '203.0.113.0/24'}, ...current]
    assert.deepEqual(findLockouts(current, next, subjects), [])
  })

  it('ignores a subject the current rules already deny', () => {
    const next: IpRule[] = [{action: 'deny', cidr: '192.0.2.0/24'}, ...current]
    assert.deepEqual(findLockouts(current, next, [{address: '198.51.100.1', who: 'this machine'}]), [])
  })

  it('treats an IPv4-mapped IPv6 address as IPv4', () => {
    const next: IpRule[] = [{action: 'deny', cidr: '127.0.0.1'}, ...current]
    assert.equal(findLockouts(current, next, [{address: '::ffff:127.0.0.1', who: 'this machine'}]).length, 1)
  })

  it('guardAdminFilter refuses naming the address and the rule, unless forced', () => {
    const next: IpRule[] = [{action: 'deny', cidr: '10.0.0.2'}, ...current]
    assert.throws(() => guardAdminFilter(current, next, subjects, false), (e: Error & {code?: string; hint?: string}) => {
      assert.equal(e.code, 'refused')
      assert.match(e.message, /lock out the primary 10\.0\.0\.2 \(rule 1 "deny 10\.0\.0\.2" denies it\)/)
      assert.match(e.hint ?? '', /--force/)
      assert.match(e.hint ?? '', /ipfilter add --allow 10\.0\.0\.2\/32 --site admin/)
      assert.match(e.hint ?? '', /--position 2/)
      return true
    })
    assert.doesNotThrow(() => guardAdminFilter(current, next, subjects, true))
  })

  it('guardAdminFilter suggests an allow rule when a removal leaves an address unmatched', () => {
    assert.throws(() => guardAdminFilter(current, [{action: 'allow', cidr: '127.0.0.0/8'}], subjects, false), (e: Error & {hint?: string}) => {
      assert.match(e.message, /the primary 10\.0\.0\.2 \(no rule allows it\)/)
      assert.match(e.hint ?? '', /add an allow rule for 10\.0\.0\.2 first/)
      return true
    })
  })
})
