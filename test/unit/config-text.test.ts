// The configuration's encodings with reused per-user parts (config-text.ts) are byte-for-byte the plain ones,
// and the store's small edits (edit(): copy and validate only the changed user) keep every rule of a full write.
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'
import {configHash, configSize, configText} from '../../src/config/config-text.js'
import {canonicalize} from '../../src/config/canonical-json.js'
import {initNodeDir} from '../../src/config/node-dir.js'
import type {ClusterConfig, User} from '../../src/config/schema.js'
import {ConfigStore, readConfigFile} from '../../src/config/store.js'
import {tempDir} from '../helpers/node-process.js'

const HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + 'A'.repeat(43) + '='
const user = (name: string): User => ({name, passwordHash: HASH, publicKeys: ['ssh-ed25519 AAAA k'], home: `/${name}`, permissions: ['list'], disabled: false})
const ctx = {by: 'test', from: 'unit', summary: 'edit'}

async function storeWith(users: number): Promise<ConfigStore> {
  const dir = path.join(tempDir(), 'node')
  await initNodeDir(dir, {bind: '127.0.120.1', adminUser: 'admin', adminPassword: 'password-long-1'})
  const store = await ConfigStore.open(dir)
  await store.change((c) => void c.users.push(...Array.from({length: users}, (_, i) => user(`user${i}`))), ctx)
  return store
}

describe('config text and small edits', () => {
  it('configText equals JSON.stringify, configSize its length, and configHash is the hash of the content, before and after shared-user changes', async () => {
    const store = await storeWith(500)
    const c = store.current
    // A copy made from the text shares nothing with `c`: the cached parts must give what computing afresh gives.
    const fresh = (x: object) => JSON.parse(JSON.stringify(x)) as ClusterConfig
    assert.equal(configText(c), JSON.stringify(c, null, 2) + '\n')
    assert.equal(configSize(c), Buffer.byteLength(configText(c)))
    assert.equal(configHash(c), configHash(fresh(c)))
    assert.equal(configHash(c), configHash(canonicalize(fresh(c)) as object), 'member order does not change the hash')
    const inserted: ClusterConfig = {...c, users: [...c.users.slice(0, 250), user('middle'), ...c.users.slice(250)], revision: c.revision + 1}
    const removed: ClusterConfig = {...inserted, users: inserted.users.filter((u) => u.name !== 'user7'), revision: c.revision + 2}
    const replaced: ClusterConfig = {...removed, users: removed.users.map((u) => (u.name === 'user400' ? {...u, home: '/elsewhere'} : u)), revision: c.revision + 3}
    const hashes = new Set([configHash(c)])
    for (const next of [inserted, removed, replaced]) {
      assert.equal(configText(next), JSON.stringify(next, null, 2) + '\n')
      assert.equal(configSize(next), Buffer.byteLength(JSON.stringify(next, null, 2) + '\n'))
      assert.equal(configHash(next), configHash(fresh(next)))
      hashes.add(configHash(next))
    }
    assert.equal(hashes.size, 4, 'each change gives another hash')
    const swapped = {...replaced, users: [replaced.users[1], replaced.users[0], ...replaced.users.slice(2)]}
    assert.notEqual(configHash(swapped), configHash(replaced), 'the order of users is part of the content')
  })

  it('edit() adds one user sharing the others, writes history, and the file reads back as the same document', async () => {
    const store = await storeWith(300)
    const before = store.current
    const out = await store.edit((c) => ({next: {...c, users: [...c.users, user('newcomer')]}, result: 'ok'}), ctx, before.revision)
    assert.equal(out.changed, true)
    assert.equal(out.config.revision, before.revision + 1)
    assert.equal(out.config.users[0], before.users[0], 'unchanged users are shared, not copied')
    assert.equal(before.users.length, 300, 'the previous revision is left as it was')
    const onDisk = await readConfigFile(store.paths.current)
    assert.equal(configHash(onDisk), store.hash)
    assert.deepEqual((await store.history()).slice(0, 2), [out.config.revision, before.revision])
    const none = await store.edit(() => ({next: null, result: 'nothing'}), ctx)
    assert.equal(none.changed, false)
    assert.equal(store.current.revision, out.config.revision)
  })

  it('edit() refuses an invalid or duplicate user naming its index, and a stale baseRevision', async () => {
    const store = await storeWith(100)
    const r = store.current.revision
    await assert.rejects(store.edit((c) => ({next: {...c, users: [...c.users, {...user('x'), name: 'bad name'}]}, result: 0}), ctx), /users\[100\]\.name/)
    await assert.rejects(store.edit((c) => ({next: {...c, users: [...c.users, user('user7')]}, result: 0}), ctx), /users\[100\]\.name: duplicate name "user7"/)
    await assert.rejects(store.edit((c) => ({next: c, result: 0}), ctx, r - 1), (e: Error & {code?: string}) => e.code === 'conflict')
    assert.equal(store.current.revision, r, 'nothing was written')
  })
})
