import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {effectivePolicy, majorityOf} from '../../src/cluster/sync-engine.js'
import {configHash as contentHash} from '../../src/config/config-text.js'
import {validateConfig, type ClusterConfig} from '../../src/config/schema.js'
import {newerThan} from '../../src/config/store.js'
import {divergedRevisions, fenceCheck} from '../../src/daemon/node-runtime.js'

function config(o: Partial<ClusterConfig>): ClusterConfig {
  return {clusterId: 'c1', epoch: 1, revision: 5, servers: [], sync: {enabled: true, intervalSeconds: 60, commit: 'auto'}, epochs: [], users: [], ...o} as unknown as ClusterConfig
}

describe('failover rules', () => {
  it('fenceCheck: a newer epoch or revision applies, the same content is a repair, the same revision with other content is a conflict', () => {
    const current = config({})
    assert.equal(fenceCheck(config({epoch: 2, revision: 3}), current), 'apply')
    assert.equal(fenceCheck(config({revision: 6}), current), 'apply')
    assert.equal(fenceCheck(config({}), current, contentHash(current)), 'repair')
    assert.throws(() => fenceCheck(config({users: [{name: 'x'}] as never}), current, contentHash(current)), (e: Error & {code?: string}) => e.code === 'conflict' && /not a repair/.test(e.message))
    assert.throws(() => fenceCheck(config({epoch: 1, revision: 9}), config({epoch: 2})), (e: Error & {code?: string}) => e.code === 'fenced')
  })

  it('fenceCheck: an epoch older than the one promised to a candidate is fenced', () => {
    assert.throws(() => fenceCheck(config({revision: 6}), config({}), undefined, 2), /promised to a new primary/)
  })

  it('divergedRevisions: the old epoch\'s revisions from the new epoch\'s first revision on never were in the new lineage', () => {
    const incoming = config({epoch: 2, revision: 9, epochs: [{epoch: 2, revision: 7}]})
    const history = [5, 6, 7, 8].map((r) => config({revision: r}))
    assert.deepEqual(divergedRevisions(history, incoming).map((c) => c.revision), [7, 8])
    assert.deepEqual(divergedRevisions(history, config({epoch: 2, epochs: []})), [], 'no record: nothing is claimed')
  })

  it('effectivePolicy: auto is majority with 3 or more members, primary with 2; majorityOf', () => {
    const two = config({servers: [{}] as never})
    const three = config({servers: [{}, {}] as never})
    assert.equal(effectivePolicy(two), 'primary')
    assert.equal(effectivePolicy(three), 'majority')
    assert.equal(effectivePolicy({...three, sync: {...three.sync, commit: 'primary'}}), 'primary')
    assert.deepEqual([1, 2, 3, 4, 5].map(majorityOf), [1, 2, 2, 3, 3])
  })

  it('newerThan orders by epoch, then revision', () => {
    assert.equal(newerThan({epoch: 2, revision: 1}, {epoch: 1, revision: 99}), true)
    assert.equal(newerThan({epoch: 1, revision: 6}, {epoch: 1, revision: 5}), true)
    assert.equal(newerThan({epoch: 1, revision: 5}, {epoch: 1, revision: 5}), false)
  })

  it('schema: sync.commit and epochs are accepted when absent (auto, []) and checked when present', async () => {
    const {defaultConfig} = await import('../../src/config/defaults.js')
    const base = defaultConfig({adminUser: 'admin', adminPasswordHash: null, sftpHostKey: 'k', tlsCert: 'c', tlsKey: 'k', by: 't'}) as unknown as Record<string, unknown>
    const old = structuredClone(base) as Record<string, Record<string, unknown>>
    delete old.sync.commit
    delete (old as Record<string, unknown>).epochs
    let v: ClusterConfig
    try {
      v = validateConfig(old)
    } catch (error) {
      // Defaults with placeholder keys may fail elsewhere; only the fields of this test matter.
      assert.doesNotMatch((error as Error).message, /sync\.commit|epochs/)
      return
    }
    assert.equal(v.sync.commit, 'auto')
    assert.deepEqual(v.epochs, [])
    assert.throws(() => validateConfig({...base, sync: {...(base.sync as object), commit: 'all'}}), /sync\.commit/)
  })
})
