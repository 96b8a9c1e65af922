import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {defaultConfig} from '../../src/config/defaults.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {addStripeNode, disableStripe, dropStripeNode, enableStripe, findMember, formatSize, markDraining, parseSize, stripeNodeAt} from '../../src/cli/stripe-edit.js'
import {defaultStripeSettings} from '../../src/config/schema.js'
import {buildStripeStatus} from '../../src/stripe/status.js'

const self = {nodeId: 'n-self', host: '127.0.75.9', port: 14983}
function config(): ClusterConfig {
  const c = defaultConfig({adminUser: 'admin', adminPasswordHash: null, sftpHostKey: 'k', tlsCert: 'c', tlsKey: 'k', by: 'admin'} as Parameters<typeof defaultConfig>[0])
  c.servers = [{nodeId: 'n-b', host: '127.0.75.10', port: 14983, fingerprint: 'SHA256:x', clusterPublicKey: 'k', addedAt: ''}]
  return c
}

describe('stripe config edits', () => {
  it('finds members (a standalone node is itself) and refuses a stranger naming the fix', () => {
    assert.equal(findMember(config(), self, {host: '127.0.75.9', port: 14983}).nodeId, 'n-self')
    assert.equal(findMember(config(), self, {host: '127.0.75.10', port: 14983}).nodeId, 'n-b')
    assert.throws(() => findMember(config(), self, {host: '127.0.75.11', port: 14983}), (e: Error & {hint?: string}) => /not a member/.test(e.message) && /add-server 127\.0\.75\.11/.test(e.hint ?? ''))
  })

  it('parses sizes with binary suffixes and refuses nonsense', () => {
    assert.equal(parseSize('10G'), 10 * 1024 ** 3)
    assert.equal(parseSize('1.5T'), 1.5 * 1024 ** 4)
    assert.equal(parseSize('512MiB'), 512 * 1024 ** 2)
    assert.equal(parseSize('10737418240'), 10737418240)
    for (const bad of ['', '0', '-1G', 'ten', '10X']) assert.throws(() => parseSize(bad), /not a size/)
    assert.equal(formatSize(1536 * 1024 ** 2), '1.5 GiB')
    assert.equal(formatSize(20), '20 B')
  })

  it('adds a node once (a re-run updates its cap), enables with replicas, refuses more replicas than nodes', () => {
    const c = config()
    assert.equal(addStripeNode(c, self, 1024).added, true)
    assert.equal(addStripeNode(c, self, null).added, false)
    assert.deepEqual(c.stripe.nodes, [{nodeId: 'n-self', host: '127.0.75.9', port: 14983, capacityBytes: null, state: 'active'}])
    assert.throws(() => enableStripe(c, self, {replicas: 2}), /needs at least 2 storage nodes/)
    addStripeNode(c, {nodeId: 'n-b', host: '127.0.75.10', port: 14983}, null)
    enableStripe(c, self, {replicas: 2, port: 2101})
    assert.deepEqual([c.stripe.enabled, c.stripe.gateway?.nodeId, c.stripe.replicas, c.stripe.port], [true, 'n-self', 2, 2101])
    assert.equal(disableStripe(c), true)
    assert.deepEqual([c.stripe.enabled, c.stripe.gateway, c.stripe.nodes.length], [false, null, 2])
  })
})

describe('stripe status', () => {
  it('remove-node marks a node draining, then drops it; add-node takes a draining node back', () => {
    const c = config()
    addStripeNode(c, findMember(c, self, {host: '127.0.75.10', port: 14983}), null)
    markDraining(c, 'n-b')
    assert.equal(stripeNodeAt(c, {host: '127.0.75.10', port: 14983})?.state, 'draining')
    addStripeNode(c, findMember(c, self, {host: '127.0.75.10', port: 14983}), null)
    assert.equal(c.stripe.nodes[0].state, 'active', 'a re-run of add-node stops the removal')
    assert.throws(() => dropStripeNode(c, 'n-b'), (e: Error & {code?: string}) => e.code === 'conflict' && /made active again/.test(e.message), 'an active node is never dropped')
    markDraining(c, 'n-b')
    dropStripeNode(c, 'n-b')
    assert.deepEqual([c.stripe.nodes, stripeNodeAt(c, {host: '127.0.75.10', port: 14983})], [[], undefined])
    dropStripeNode(c, 'n-b') // a re-run finds nothing to do
  })

  it('sums capacity over the nodes that are up and counts a down node from the catalogue', () => {
    const s = {...defaultStripeSettings(), enabled: true, replicas: 2, gateway: {nodeId: 'g', host: '127.0.75.2', port: 14983}, nodes: ['a', 'b', 'c'].map((nodeId, i) => ({nodeId, host: `127.0.75.${3 + i}`, port: 14983, capacityBytes: null, state: (nodeId === 'c' ? 'draining' : 'active') as 'active' | 'draining'}))}
    const space = (cap: number, used: number, files: number) => ({capacityBytes: cap, usedBytes: used, freeBytes: cap - used, files})
    const st = buildStripeStatus(s, [
      {nodeId: 'a', up: true, space: space(1000, 100, 3), catalogue: {files: 3, bytes: 100}},
      {nodeId: 'b', up: false, space: space(500, 50, 1), catalogue: {files: 2, bytes: 70}},
      {nodeId: 'c', up: true, space: space(300, 0, 0), catalogue: undefined},
    ], 4, 2)
    assert.equal(st.gateway, '127.0.75.2:2100')
    assert.deepEqual(st.nodes.map((n) => [n.state, n.capacityBytes, n.usedBytes, n.freeBytes, n.files]), [['up', 1000, 100, 900, 3], ['down', 500, 70, 430, 2], ['draining', 300, 0, 300, 0]])
    assert.deepEqual(st.totals, {capacityBytes: 1300, usedBytes: 100, freeBytes: 1200, files: 4})
    assert.equal(st.underReplicated, 2)
  })
})
