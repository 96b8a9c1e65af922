import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {addRule, checkCidr, numbered, removeRule, sameBlock} from '../../src/cli/ipfilter-edit.js'
import type {IpRule} from '../../src/config/schema.js'

const rules: IpRule[] = [
  {action: 'allow', cidr: '127.0.0.0/8'},
  {action: 'allow', cidr: '10.0.0.0/8'},
]

describe('ipfilter-edit', () => {
  it('addRule puts a new rule at the top by default', () => {
    const r = addRule(rules, {action: 'deny', cidr: '10.1.0.0/16'})
    assert.deepEqual(r.rules.map((x) => x.cidr), ['10.1.0.0/16', '127.0.0.0/8', '10.0.0.0/8'])
    assert.equal(r.position, 1)
    assert.deepEqual(r.replaced, [])
    assert.equal(rules.length, 2, 'the input is not modified')
  })

  it('addRule inserts at a 1-based position and appends at length + 1', () => {
    assert.equal(addRule(rules, {action: 'deny', cidr: '1.2.3.4'}, 2).rules[1].cidr, '1.2.3.4')
    assert.equal(addRule(rules, {action: 'deny', cidr: '1.2.3.4'}, 3).rules[2].cidr, '1.2.3.4')
  })

  it('addRule refuses a position out of range, naming --position', () => {
    assert.throws(() => addRule(rules, {action: 'deny', cidr: '1.2.3.4'}, 4), /--position 4 is out of range 1-3/)
    assert.throws(() => addRule(rules, {action: 'deny', cidr: '1.2.3.4'}, 0), /--position/)
  })

  it('addRule replaces the rule for the same block however it is written', () => {
    const r = addRule(rules, {action: 'deny', cidr: '10.9.9.9/8'})
    assert.deepEqual(r.rules, [{action: 'deny', cidr: '10.9.9.9/8'}, {action: 'allow', cidr: '127.0.0.0/8'}])
    assert.deepEqual(r.replaced, [{action: 'allow', cidr: '10.0.0.0/8'}])
  })

  it('removeRule removes by block and refuses an unknown block naming the site', () => {
    const r = removeRule(rules, '10.0.0.0/8', 'admin')
    assert.deepEqual(r.rules, [{action: 'allow', cidr: '127.0.0.0/8'}])
    assert.deepEqual(r.removed, [{action: 'allow', cidr: '10.0.0.0/8'}])
    assert.throws(() => removeRule(rules, '192.168.0.0/16', 'files'), /files site has no IP filter rule for 192\.168\.0\.0\/16/)
  })

  it('sameBlock compares networks, not text', () => {
    assert.equal(sameBlock('10.0.0.1', '10.0.0.1/32'), true)
    assert.equal(sameBlock('::1', '::1/128'), true)
    assert.equal(sameBlock('10.0.0.0/8', '10.0.0.0/16'), false)
    assert.equal(sameBlock('0.0.0.0/0', '::/0'), false)
  })

  it('checkCidr is a usage error naming CIDR', () => {
    assert.equal(checkCidr(' 10.0.0.0/8 '), '10.0.0.0/8')
    assert.throws(() => checkCidr('10.0.0.0/40'), (e: Error & {code?: string}) => e.code === 'invalid' && /^CIDR: /.test(e.message))
  })

  it('numbered gives 1-based positions', () => {
    assert.deepEqual(numbered(rules)[1], {position: 2, action: 'allow', cidr: '10.0.0.0/8'})
  })
})
