// The journal of a large configuration (store.ts, journal.ts): a change is one patch line, not a rewrite of the
// document; opening replays the lines onto current.json, a torn last line is cut off, lines the snapshot already
// holds are skipped, a journal that does not follow current.json is set aside (never half-applied), history is
// rebuilt from patches, and a staged delta is stored as its patch.
import assert from 'node:assert/strict'
import {appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import {configHash, configSize} from '../../src/config/config-text.js'
import {initNodeDir} from '../../src/config/node-dir.js'
import type {User} from '../../src/config/schema.js'
import {ConfigStore, HISTORY_LIMIT, readConfigFile} from '../../src/config/store.js'
import {tempDir} from '../helpers/node-process.js'

const HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + 'A'.repeat(43) + '='
const user = (name: string): User => ({name, passwordHash: HASH, publicKeys: [], home: `/${name}`, permissions: ['list', 'download'], disabled: false})
const ctx = {by: 'test', from: 'unit', summary: 'edit'}
/** Over the 1 MiB from which documents are journaled. */
const USERS = 4000

async function largeStore(): Promise<ConfigStore> {
  const dir = path.join(tempDir(), 'node')
  await initNodeDir(dir, {bind: '127.0.121.1', adminUser: 'admin', adminPassword: 'password-long-1'})
  const store = await ConfigStore.open(dir)
  await store.change((c) => void c.users.push(...Array.from({length: USERS}, (_, i) => user(`user${i}`))), ctx)
  assert.ok(configSize(store.current) > 1024 * 1024, `the document is large (${configSize(store.current)} bytes)`)
  return store
}

const add = (store: ConfigStore, name: string) => store.edit((c) => ({next: {...c, users: [...c.users, user(name)]}, result: null}), ctx)
const lines = (store: ConfigStore) => readFileSync(store.paths.journal, 'utf8').split('\n').filter(Boolean).length

describe('configuration journal', () => {
  it('a one-user change is a journal line and a history patch; reopening gives the same revision and hash', async () => {
    const store = await largeStore()
    const snapshot = store.current.revision
    const size = statSync(store.paths.current).size
    for (let i = 0; i < 5; i++) await add(store, `new${i}`)
    assert.equal((await readConfigFile(store.paths.current)).revision, snapshot, 'current.json is not rewritten')
    assert.equal(statSync(store.paths.current).size, size)
    assert.equal(lines(store), 5)
    assert.ok(statSync(store.paths.journal).size < 5 * 2000, `journal ${statSync(store.paths.journal).size} bytes for 5 users`)
    await store.history() // history patches are written after the acknowledgement; this waits for them
    assert.ok(existsSync(path.join(store.paths.history, `${snapshot + 5}.patch.json`)))
    const reopened = await ConfigStore.open(store.dataDir)
    assert.equal(reopened.current.revision, snapshot + 5)
    assert.equal(reopened.hash, store.hash)
    assert.equal(reopened.handEdit, null)
    assert.equal(reopened.journalProblem, null)
    assert.equal(reopened.current.users.at(-1)?.name, 'new4')
    assert.equal(configHash(await ConfigStore.readOnDisk(store.dataDir)), store.hash)
    // history: every revision rebuilt exactly, newest first
    assert.deepEqual((await reopened.history()).slice(0, 6), [5, 4, 3, 2, 1, 0].map((k) => snapshot + k))
    for (let k = 1; k <= 5; k++) {
      const h = await reopened.historyEntry(snapshot + k)
      assert.equal(h.revision, snapshot + k)
      assert.equal(h.users.length, USERS + k)
    }
    // and the next change continues the journal from the reopened store
    await add(reopened, 'after-reopen')
    assert.equal(lines(reopened), 6)
    assert.equal((await ConfigStore.open(store.dataDir)).hash, reopened.hash)
  })

  it('a torn last line (a crash during the append) is cut off: that change was never acknowledged', async () => {
    const store = await largeStore()
    await add(store, 'kept')
    const acknowledged = store.current.revision
    appendFileSync(store.paths.journal, '{"v":1,"base":{"epoch":1,"revision"')
    const reopened = await ConfigStore.open(store.dataDir)
    assert.equal(reopened.current.revision, acknowledged)
    assert.equal(reopened.journalProblem, null)
    assert.ok(readFileSync(store.paths.journal, 'utf8').endsWith('\n'), 'the torn part is gone from the file')
    await add(reopened, 'next')
    assert.equal((await ConfigStore.open(store.dataDir)).current.revision, acknowledged + 1)
  })

  it('every SNAPSHOT_EVERY lines, and on a change that shares nothing, current.json is written whole and the journal emptied', async () => {
    const store = await largeStore()
    for (let i = 0; i < 100; i++) await add(store, `bulk${i}`)
    assert.equal(lines(store), 100)
    await add(store, 'the-101st')
    assert.equal(lines(store), 0, 'the 101st change is a snapshot')
    assert.equal((await readConfigFile(store.paths.current)).revision, store.current.revision)
    await add(store, 'journaled-again')
    assert.equal(lines(store), 1)
    await store.change((c) => void (c.limits.idleTimeoutSeconds = 777), ctx) // a deep copy: nothing shared
    assert.equal(lines(store), 0)
    assert.equal((await readConfigFile(store.paths.current)).limits.idleTimeoutSeconds, 777)
    const kept = await store.history()
    assert.equal(kept.length, HISTORY_LIMIT)
    for (const r of [kept[0], kept[50], kept.at(-1)!]) assert.equal((await store.historyEntry(r)).revision, r, `revision ${r} rebuilt`)
  })

  it('lines a snapshot already holds (a crash before the journal was emptied) are skipped', async () => {
    const store = await largeStore()
    for (let i = 0; i < 3; i++) await add(store, `n${i}`)
    const saved = path.join(tempDir(), 'journal.copy')
    copyFileSync(store.paths.journal, saved)
    await store.change((c) => void (c.limits.idleTimeoutSeconds = 611), ctx) // snapshot, journal emptied
    copyFileSync(saved, store.paths.journal) // as if the crash came between the snapshot and the truncation
    const reopened = await ConfigStore.open(store.dataDir)
    assert.equal(reopened.journalProblem, null)
    assert.equal(reopened.hash, store.hash)
    assert.equal(reopened.current.limits.idleTimeoutSeconds, 611)
  })

  it('a journal that does not follow current.json is set aside with the reason, never half-applied', async () => {
    const store = await largeStore()
    await add(store, 'a')
    const good = store.current.revision
    const text = readFileSync(store.paths.journal, 'utf8')
    const rec = JSON.parse(text) as {base: {hash: string}; target: {revision: number}}
    rec.base.hash = '0'.repeat(64)
    rec.target.revision = good + 1
    writeFileSync(store.paths.journal, text + JSON.stringify(rec) + '\n')
    const reopened = await ConfigStore.open(store.dataDir)
    assert.equal(reopened.current.revision, good, 'the good line is applied, the foreign one is not')
    assert.match(reopened.journalProblem ?? '', /line 2 \(revision \d+\) does not follow revision \d+ of current\.json; it was moved to journal\.log\.unused-/)
    assert.ok(readdirSync(store.paths.dir).some((n) => n.startsWith('journal.log.unused-')))
    assert.equal((await readConfigFile(store.paths.current)).revision, good, 'the served revision is written whole')
    assert.equal((await ConfigStore.open(store.dataDir)).current.revision, good)
  })

  it('a hand edit of the snapshot is detected and not served; the journal still applies to the recorded revision', async () => {
    const store = await largeStore()
    await add(store, 'a')
    const file = JSON.parse(readFileSync(store.paths.current, 'utf8'))
    file.limits.idleTimeoutSeconds = 4242
    writeFileSync(store.paths.current, JSON.stringify(file, null, 2))
    const reopened = await ConfigStore.open(store.dataDir)
    assert.ok(reopened.handEdit, 'the edit is flagged')
    assert.equal(reopened.hash, store.hash, 'the recorded revision and the journal are served')
    assert.notEqual(reopened.fileHash, reopened.hash, 'and the node reports the drift')
    await add(reopened, 'b') // a change after an edit rewrites the file whole
    assert.equal(reopened.handEdit, null)
    assert.equal(lines(reopened), 0)
    assert.equal((await readConfigFile(store.paths.current)).limits.idleTimeoutSeconds, store.current.limits.idleTimeoutSeconds)
  })

  it('a staged delta is stored as its patch and read back as the document; unstage drops it', async () => {
    const store = await largeStore()
    const base = store.current
    const next = {...base, revision: base.revision + 1, users: [...base.users, user('staged')]}
    await store.stage(next, () => {}, {derivedFrom: base})
    assert.ok(statSync(store.paths.staged).size < 4000, `staged.json is ${statSync(store.paths.staged).size} bytes`)
    const staged = await store.staged()
    assert.equal(staged?.revision, base.revision + 1)
    assert.equal(configHash(staged!), configHash(next))
    assert.equal(await store.unstage(base.revision + 1, base.epoch), true)
    assert.equal(await store.staged(), null)
  })
})
