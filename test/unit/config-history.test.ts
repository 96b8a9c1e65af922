import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {compareConfigs} from '../../src/cli/config-drift.js'
import {contentChanges, historyEntry, rollbackDocument} from '../../src/cli/config-history.js'
import type {ClusterConfig} from '../../src/config/schema.js'

function config(over: Partial<ClusterConfig>): ClusterConfig {
  return {
    clusterId: 'abcd1234', epoch: 1, revision: 3, primary: null, servers: [], sync: {enabled: true, intervalSeconds: 60, commit: 'auto'},
    users: [], lastChange: {by: 'admin', from: '127.0.0.1', at: '2026-01-01T00:00:00.000Z', summary: 'configuration written'},
    ...over,
  } as unknown as ClusterConfig
}

describe('config-history', () => {
  it('historyEntry takes who, when and what from lastChange', () => {
    assert.deepEqual(historyEntry(config({})), {revision: 3, epoch: 1, time: '2026-01-01T00:00:00.000Z', by: 'admin', from: '127.0.0.1', summary: 'configuration written'})
  })

  it('rollbackDocument restores the content and keeps membership and bookkeeping', () => {
    const target = config({revision: 3, sync: {enabled: false, intervalSeconds: 5, commit: 'auto'}, servers: []})
    const server = {nodeId: 'n2', host: '10.0.0.2'} as unknown as ClusterConfig['servers'][number]
    const current = config({revision: 9, epoch: 2, servers: [server], lastChange: {by: 'ops', from: 'x', at: 'later', summary: 's'}})
    const {doc, kept} = rollbackDocument(target, current)
    assert.deepEqual(doc.sync, {enabled: false, intervalSeconds: 5, commit: 'auto'})
    assert.deepEqual(doc.servers, [server])
    assert.equal(doc.epoch, 2)
    assert.equal(doc.revision, 9)
    assert.deepEqual(kept, ['epoch', 'servers'])
    assert.deepEqual(contentChanges(current, doc).map((c) => c.path), ['sync.enabled', 'sync.intervalSeconds'])
    assert.deepEqual(contentChanges(target, {...doc, epoch: 1, servers: []}), [], 'same content as the target except bookkeeping')
  })

  it('compareConfigs reports revisions apart from the changed fields', () => {
    const same = compareConfigs(config({}), config({}))
    assert.deepEqual(same, {identical: true, primaryRevision: 3, serverRevision: 3, changes: []})
    const drift = compareConfigs(config({revision: 4}), config({users: [{name: 'x'}] as never}))
    assert.equal(drift.identical, false)
    assert.deepEqual(drift.changes.map((c) => c.path), ['users[0]'])
    assert.equal(drift.serverRevision, 3)
  })
})
