import assert from 'node:assert/strict'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {initNodeDir, readNodeSettings} from '../../src/config/node-dir.js'
import {ConfigStore, HISTORY_LIMIT, readConfigFile} from '../../src/config/store.js'
import {tempDir} from '../helpers/node-process.js'

const ctx = {by: 'test', from: 'unit', summary: 'change'}

async function freshStore(): Promise<ConfigStore> {
  const dir = path.join(tempDir(), 'node')
  await initNodeDir(dir, {bind: '127.0.0.1', adminUser: 'admin', adminPassword: 'password1'})
  return ConfigStore.open(dir)
}

describe('config store', () => {
  it('bumps the revision, keeps history and an audit record of who changed what from where', async () => {
    const store = await freshStore()
    assert.equal(store.current.revision, 1)
    const before = store.hash
    const next = await store.change((c) => void (c.sync.intervalSeconds = 30), {by: 'alice', from: '10.0.0.5', summary: 'sync interval 30 s'})
    assert.equal(next.revision, 2)
    assert.notEqual(store.hash, before)
    assert.deepEqual(next.lastChange.by, 'alice')
    assert.deepEqual(await store.history(), [2, 1])
    const audit = await store.audit()
    assert.deepEqual(audit.map((a) => [a.revision, a.by, a.from]), [[1, 'admin', 'local'], [2, 'alice', '10.0.0.5']])
    const reopened = await ConfigStore.open(store.dataDir)
    assert.equal(reopened.current.sync.intervalSeconds, 30)
    assert.equal(reopened.hash, store.hash)
  })

  it('refuses a stale baseRevision as a conflict and keeps the current revision', async () => {
    const store = await freshStore()
    await store.change(() => {}, ctx, 1)
    await assert.rejects(store.change(() => {}, ctx, 1), (e: Error & {code?: string}) => e.code === 'conflict' && /stale baseRevision 1: the configuration is at revision 2/.test(e.message))
    assert.equal(store.current.revision, 2)
  })

  it('refuses an invalid change naming the field and leaves the file untouched', async () => {
    const store = await freshStore()
    const file = store.paths.current
    const text = readFileSync(file, 'utf8')
    await assert.rejects(store.change((c) => void ((c.sites.admin as {port: unknown}).port = 'x'), ctx), /invalid configuration: sites\.admin\.port/)
    assert.equal(readFileSync(file, 'utf8'), text)
    assert.equal(store.current.revision, 1)
  })

  it('serialises concurrent writers: every change lands, revisions are consecutive', async () => {
    const store = await freshStore()
    await Promise.all(Array.from({length: 20}, (_, i) => store.change((c) => void (c.sync.intervalSeconds = 10 + i), ctx)))
    assert.equal(store.current.revision, 21)
    assert.equal((await readConfigFile(store.paths.current)).revision, 21)
  })

  it('bounds the history', async () => {
    const store = await freshStore()
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) await store.change(() => {}, ctx)
    const kept = await store.history()
    assert.equal(kept.length, HISTORY_LIMIT)
    assert.equal(kept[0], HISTORY_LIMIT + 6)
  })

  it('names the file and the problem of a corrupt configuration, and never rewrites it', async () => {
    const store = await freshStore()
    writeFileSync(store.paths.current, '{"revision": 3,')
    await assert.rejects(ConfigStore.open(store.dataDir), /current\.json: is not valid JSON/)
    writeFileSync(store.paths.current, JSON.stringify({...store.current, epoch: 'x'}))
    await assert.rejects(ConfigStore.open(store.dataDir), /current\.json: invalid field epoch: expected an integer/)
    assert.match(readFileSync(store.paths.current, 'utf8'), /"epoch":"x"/)
  })

  it('removes temp files a crash left behind', async () => {
    const store = await freshStore()
    writeFileSync(path.join(store.paths.dir, 'current.json.tmp-123-abcd'), '{')
    await ConfigStore.open(store.dataDir)
    assert.deepEqual(readdirSync(store.paths.dir).filter((n) => n.includes('.tmp-')), [])
  })

  it('reports a missing or uninitialised data directory clearly', async () => {
    await assert.rejects(readNodeSettings('/nonexistent/dir'), /does not exist/)
    await assert.rejects(readNodeSettings(tempDir()), /not an initialised node \(no node.json\)/)
  })
})

describe('ssh keys', () => {
  it('generateSshKey only returns keys ssh2 can parse back (ssh2 rejects ~1 in 300 of its own)', async () => {
    const {generateSshKey} = await import('../../src/config/node-dir.js')
    const ssh2 = (await import('ssh2')).default
    for (let i = 0; i < 600; i++) {
      const k = await generateSshKey('test')
      assert.ok(!(ssh2.utils.parseKey(k.privateKey) instanceof Error))
    }
  })
})
