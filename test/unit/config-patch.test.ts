// Delta sync's patches (config-patch.ts): diff then apply gives the target, entries of named arrays are
// addressed by name (one user added to 50,000 is a small patch), the base is never changed, a patch made
// against another document is refused.
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'
import {configHash as contentHash} from '../../src/config/config-text.js'
import {applyPatch, diffConfig, PatchError} from '../../src/config/config-patch.js'
import {initNodeDir} from '../../src/config/node-dir.js'
import type {ClusterConfig, User} from '../../src/config/schema.js'
import {ConfigStore} from '../../src/config/store.js'
import {tempDir} from '../helpers/node-process.js'

const HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + 'A'.repeat(43) + '='
const user = (name: string): User => ({name, passwordHash: HASH, publicKeys: [], home: `/${name}`, permissions: ['list', 'download'], disabled: false})

async function bigConfig(users: number): Promise<ClusterConfig> {
  const dir = path.join(tempDir(), 'node')
  await initNodeDir(dir, {bind: '127.0.120.1', adminUser: 'admin', adminPassword: 'password-long-1'})
  const config = structuredClone((await ConfigStore.open(dir)).current)
  for (let i = 0; i < users; i++) config.users.push(user(`user${i}`))
  return config
}

function roundTrip(base: ClusterConfig, target: ClusterConfig): ReturnType<typeof diffConfig> {
  const frozen = JSON.stringify(base)
  const ops = diffConfig(base, target)
  const out = applyPatch(base, JSON.parse(JSON.stringify(ops)))
  assert.equal(contentHash(out), contentHash(target))
  assert.equal(JSON.stringify(base), frozen, 'the base is left as it was')
  return ops
}

describe('config patch', () => {
  it('one user inserted into 50,000 is one insert of a few hundred bytes, addressed by name', async () => {
    const base = await bigConfig(50_000)
    const target = structuredClone(base)
    target.users.splice(25_000, 0, user('newcomer'))
    target.revision += 1
    const ops = roundTrip(base, target)
    const bytes = Buffer.byteLength(JSON.stringify(ops))
    assert.ok(bytes < 600, `${bytes} bytes`)
    assert.deepEqual(ops.find((o) => o.op === 'insert'), {op: 'insert', path: ['users'], after: {name: 'user24999'}, value: user('newcomer')})
  })

  it('removals, edits inside an entry, new members and removed members round-trip', async () => {
    const base = await bigConfig(50)
    const target = structuredClone(base)
    target.users = target.users.filter((u) => u.name !== 'user7')
    target.users[3].passwordHash = null
    target.users[3].publicKeys = ['ssh-ed25519 AAAA test']
    target.users.unshift(user('first'))
    target.users.push(user('last'))
    target.limits.idleTimeoutSeconds = 77
    target.sites.admin.ipFilter.push({action: 'deny', cidr: '10.0.0.0/8'})
    delete (target as Partial<ClusterConfig>).stripe
    const ops = roundTrip(base, target)
    assert.ok(ops.some((o) => o.op === 'remove' && JSON.stringify(o.path) === '["users",{"name":"user7"}]'))
    assert.ok(ops.some((o) => o.op === 'remove' && JSON.stringify(o.path) === '["stripe"]'))
  })

  it('reordered entries replace the array; equal documents make no operation', async () => {
    const base = await bigConfig(5)
    assert.deepEqual(diffConfig(base, structuredClone(base)), [])
    const target = structuredClone(base)
    target.users.reverse()
    const ops = roundTrip(base, target)
    assert.deepEqual(ops.map((o) => [o.op, o.path]), [['set', ['users']]])
  })

  it('a patch made against another document is refused', async () => {
    const base = await bigConfig(5)
    const target = structuredClone(base)
    target.users = target.users.filter((u) => u.name !== 'user2')
    target.users[0].home = '/elsewhere'
    const ops = diffConfig(base, target)
    const other = structuredClone(base)
    other.users = other.users.filter((u) => u.name !== 'user2')
    assert.throws(() => applyPatch(other, ops), PatchError)
    assert.throws(() => applyPatch(other, [{op: 'set', path: ['nope', 'deeper'], value: 1}]), PatchError)
    assert.throws(() => applyPatch(other, [{op: 'insert', path: ['users'], after: {name: 'ghost'}, value: {}}]), PatchError)
  })
})
