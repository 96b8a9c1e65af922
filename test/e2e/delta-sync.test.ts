// Delta sync on a real 3-node cluster (127.0.120.2 primary, .3 and .4 secondaries): a secondary that lacks
// the base revision, or whose base is damaged on disk, ends identical to the primary; a delta that does not
// give the target's hash is refused and nothing is applied; with 50,000 users a one-user change travels as a
// small patch, and `cluster users add` (the server-side edit) works, stays idempotent and keeps its rules.
// Addresses: 127.0.120.0/24 only.
import assert from 'node:assert/strict'
import {readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {configHash as contentHash} from '../../src/config/config-text.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {ConfigStore, SNAPSHOT_BYTES} from '../../src/config/store.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {DELTA_FORMAT, PATHS, type NodeStatus, type ServersDocument} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {ADMIN_PASSWORD, createNode, pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'

const [P, S1, S2] = ['127.0.120.2', '127.0.120.3', '127.0.120.4']
const HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + 'A'.repeat(43) + '='
const USER_PASSWORD = 'delta-sync-user-password'

async function admin(host: string): Promise<AdminClient> {
  return AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}, timeoutMs: 30_000})
}

async function status(host: string): Promise<NodeStatus> {
  const c = await admin(host)
  try {
    return await c.exec<NodeStatus>('status', null)
  } finally {
    c.close()
  }
}

async function change(mutate: (c: ClusterConfig) => void): Promise<number> {
  const c = await admin(P)
  try {
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    mutate(config)
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    return config.revision + 1
  } finally {
    c.close()
  }
}

/** Every node at the primary's revision with its content hash (of the file on disk, as status reports it). */
async function allIdentical(what: string, timeoutMs = 20_000): Promise<NodeStatus[]> {
  return pollUntil(async () => {
    const all = await Promise.all([P, S1, S2].map(status))
    return all.every((s) => s.revision === all[0].revision && s.hash === all[0].hash && s.epoch === all[0].epoch) ? all : undefined
  }, what, timeoutMs, 100)
}

describe('delta sync (e2e)', () => {
  const root = tempDir()
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: P, CLUSTER_USER_PASSWORD: USER_PASSWORD}
  const nodes: Record<string, TestNode> = {}
  const file = (ip: string, name: string) => path.join(nodes[ip].dir, 'config', name)
  const servers = async () => (await runCli(['servers', '--json'], {env})).json<ServersDocument>()

  before(async () => {
    for (const ip of [P, S1, S2]) nodes[ip] = await createNode(root, ip)
    await Promise.all([P, S1, S2].map((ip) => nodes[ip].start()))
    for (const ip of [S1, S2]) {
      const r = await runCli(['add-server', ip, '--json'], {env})
      assert.equal(r.code, 0, r.stderr + r.stdout)
    }
  })
  after(async () => {
    await Promise.all(Object.values(nodes).map((n) => n.stop()))
  })

  it('a change reaches the secondaries as a delta', async () => {
    const revision = await change((c) => void (c.limits.idleTimeoutSeconds = 610))
    await allIdentical('all nodes at the changed revision')
    const doc = await pollUntil(async () => {
      const d = await servers()
      return d.servers.filter((s) => s.role === 'secondary').every((s) => s.revision === revision && s.lastPush?.mode === 'delta' && s.lastPush.revision === revision) ? d : undefined
    }, 'both pushes recorded as deltas', 10_000, 100)
    for (const s of doc.servers.filter((x) => x.role === 'secondary')) assert.ok(s.lastPush!.bytes < 2000, JSON.stringify(s.lastPush))
  })

  it('a delta whose result is not the target (or whose base is not held) is refused, nothing applied', async () => {
    const before = await status(S1)
    const key = readFileSync(path.join(nodes[P].dir, 'cluster_key'), 'utf8')
    const member = await AdminClient.connect({host: S1, port: 14983, credentials: {username: 'cluster', privateKey: key}, checkHostKey: () => {}, localAddress: P})
    try {
      const base = {epoch: before.epoch, revision: before.revision, hash: before.hash}
      const wrongResult = {format: DELTA_FORMAT, base, target: {epoch: before.epoch, revision: before.revision + 1, hash: 'f'.repeat(64)}, ops: [{op: 'set', path: ['revision'], value: before.revision + 1}]}
      await assert.rejects(member.exec('apply-delta', {delta: wrongResult}), (e: Error & {code?: string}) => e.code === 'delta-base' && /not the target/.test(e.message))
      await assert.rejects(member.exec('stage', {delta: wrongResult}), (e: Error & {code?: string}) => e.code === 'delta-base')
      const notHeld = {...wrongResult, base: {...base, revision: before.revision - 1}}
      await assert.rejects(member.exec('apply-delta', {delta: notHeld}), (e: Error & {code?: string}) => e.code === 'delta-base' && /not the delta's base/.test(e.message))
      const badPath = {...wrongResult, ops: [{op: 'remove', path: ['users', {name: 'nobody-here'}]}]}
      await assert.rejects(member.exec('apply-delta', {delta: badPath}), (e: Error & {code?: string}) => e.code === 'delta-base' && /does not apply/.test(e.message))
    } finally {
      member.close()
    }
    const afterwards = await status(S1)
    assert.equal(afterwards.revision, before.revision)
    assert.equal(afterwards.hash, before.hash)
  })

  it('the members\' session answers like exec, many requests on one channel, and is refused to admins', async () => {
    const key = readFileSync(path.join(nodes[P].dir, 'cluster_key'), 'utf8')
    const member = await AdminClient.connect({host: S1, port: 14983, credentials: {username: 'cluster', privateKey: key}, checkHostKey: () => {}, localAddress: P})
    try {
      const viaExec = await member.exec<NodeStatus>('status', null)
      const all = await Promise.all(Array.from({length: 20}, () => member.call<NodeStatus>('status', null)))
      for (const s of all) assert.deepEqual([s.revision, s.hash, s.hashFormat], [viaExec.revision, viaExec.hash, viaExec.hashFormat])
      const base = {epoch: viaExec.epoch, revision: viaExec.revision, hash: viaExec.hash}
      const wrongResult = {format: DELTA_FORMAT, base, target: {...base, revision: base.revision + 1, hash: 'f'.repeat(64)}, ops: [{op: 'set', path: ['revision'], value: base.revision + 1}]}
      await assert.rejects(member.call('apply-delta', {delta: wrongResult}), (e: Error & {code?: string}) => e.code === 'delta-base' && /not the target/.test(e.message))
      await assert.rejects(member.call('no-such-command', {}), (e: Error & {code?: string}) => e.code === 'unknown-command')
      assert.equal((await member.call<NodeStatus>('status', null)).revision, viaExec.revision, 'the session survives refused requests')
    } finally {
      member.close()
    }
    const asAdmin = await admin(S1)
    try {
      await assert.rejects(asAdmin.call('status', null), (e: Error & {code?: string}) => e.code === 'refused' && /for cluster members/.test(e.message))
    } finally {
      asAdmin.close()
    }
  })

  it('a secondary restored to an old revision (the primary no longer has that base) gets the full document and ends identical', async () => {
    const old = readFileSync(file(S2, 'current.json'), 'utf8')
    await nodes[S2].stop()
    // Four changes while it is away: its revision is no longer among the primary's recent delta bases.
    for (let i = 0; i < 4; i++) await change((c) => void (c.limits.idleTimeoutSeconds = 620 + i))
    writeFileSync(file(S2, 'current.json'), old) // as if restored from a backup: the same revision as its history copy
    await nodes[S2].start()
    const [p] = await allIdentical('the restored secondary identical to the primary')
    const s2 = (await servers()).servers.find((s) => s.host === S2)!
    assert.equal(s2.lastPush?.mode, 'full', JSON.stringify(s2.lastPush))
    assert.equal(contentHash(JSON.parse(readFileSync(file(S2, 'current.json'), 'utf8'))), p.hash)
    // and the next change is a delta again
    const revision = await change((c) => void (c.limits.idleTimeoutSeconds = 700))
    await pollUntil(async () => {
      const s = (await servers()).servers.find((x) => x.host === S2)
      return s?.revision === revision && s.lastPush?.mode === 'delta'
    }, 'the next push to it a delta', 10_000, 100)
  })

  it('a secondary whose base is damaged on disk (current.json edited, its history copy corrupted) ends identical', async () => {
    await nodes[S1].stop()
    const revision = (await status(P)).revision
    const edited = JSON.parse(readFileSync(file(S1, 'current.json'), 'utf8')) as ClusterConfig
    edited.limits.idleTimeoutSeconds = 4242 // same revision, other content
    writeFileSync(file(S1, 'current.json'), JSON.stringify(edited, null, 2))
    writeFileSync(file(S1, path.join('history', `${revision}.json`)), '{"truncated": ')
    await change((c) => void (c.limits.idleTimeoutSeconds = 710))
    await nodes[S1].start()
    const [p] = await allIdentical('the damaged secondary identical to the primary')
    const onDisk = JSON.parse(readFileSync(file(S1, 'current.json'), 'utf8')) as ClusterConfig
    assert.equal(onDisk.limits.idleTimeoutSeconds, 710)
    assert.equal(contentHash(onDisk), p.hash)
  })

  it('with 50,000 users, users add sends a small patch to each secondary; re-runs are idempotent; the password policy holds', async () => {
    // Imported 5,000 at a time: each import is a delta of 5,000 inserts, cheap for the secondaries to apply.
    let users = 0
    for (let k = 0; k < 10; k++) {
      users = await change((c) => {
        for (let i = k * 5000; i < (k + 1) * 5000; i++) c.users.push({name: `user${i}`, passwordHash: HASH, publicKeys: [], home: `/user${i}`, permissions: ['list', 'download'], disabled: false})
      })
    }
    await allIdentical('50,000 users on every node', 120_000)
    // The imports' lines may have left S2's journal at its snapshot point (six or seven of them reach it,
    // depending on how each import reached S2): then the next change is written whole there, as it should be.
    // Have that be a small change of its own, so the one-user change below is S2's first journal line after it.
    if ((statSync(file(S2, 'journal.log'), {throwIfNoEntry: false})?.size ?? 0) >= SNAPSHOT_BYTES) users = await change((c) => void (c.limits.idleTimeoutSeconds = 720))
    const r = await runCli(['users', 'add', 'newcomer', '--json'], {env, timeoutMs: 60_000})
    assert.equal(r.code, 0, r.stderr + r.stdout)
    const added = r.json<{revision: number; user: {name: string; hasPassword: boolean; home: string}; commit?: {confirmed: string[]}}>()
    assert.equal(added.revision, users + 1)
    assert.deepEqual([added.user.name, added.user.hasPassword, added.user.home], ['newcomer', true, '/newcomer'])
    assert.ok((added.commit?.confirmed.length ?? 0) >= 2, JSON.stringify(added.commit))
    const doc = await pollUntil(async () => {
      const d = await servers()
      return d.servers.filter((s) => s.role === 'secondary').every((s) => s.revision === added.revision && s.lastPush?.revision === added.revision) ? d : undefined
    }, 'both secondaries at the new revision', 30_000, 200)
    for (const s of doc.servers.filter((x) => x.role === 'secondary')) {
      assert.equal(s.lastPush?.mode, 'delta', JSON.stringify(s.lastPush))
      assert.ok(s.lastPush!.bytes < 2000, `a one-user change with 50,000 users sent ${s.lastPush!.bytes} bytes`)
    }
    const [p] = await allIdentical('every node with the new user', 60_000)
    // With 50,000 users current.json is a snapshot and the change a journal line: what S2 would start with.
    const onS2 = await ConfigStore.readOnDisk(nodes[S2].dir)
    // history keeps the patch (written just after the change is acknowledged)
    const patch = await pollUntil(async () => statSync(file(S2, path.join('history', `${added.revision}.patch.json`)), {throwIfNoEntry: false})?.size, 'the history patch on S2', 10_000, 100)
    assert.ok(patch < 4096, `the one-user change is kept as a patch of ${patch} bytes on S2, not a copy of the document`)
    assert.equal(onS2.users.length, 50_001)
    assert.equal(onS2.users.at(-1)?.name, 'newcomer')
    assert.equal(contentHash(onS2), p.hash)

    const again = await runCli(['users', 'add', 'newcomer'], {env, timeoutMs: 60_000})
    assert.equal(again.code, 1, again.stderr)
    assert.match(again.stderr, /user "newcomer" already exists/)
    const ifMissing = await runCli(['users', 'add', 'newcomer', '--if-missing', '--json'], {env, timeoutMs: 60_000})
    assert.equal(ifMissing.code, 0, ifMissing.stderr)
    assert.deepEqual([ifMissing.json<{unchanged: boolean; revision: number}>().unchanged, ifMissing.json<{revision: number}>().revision], [true, added.revision])
    const short = await runCli(['users', 'add', 'shorty', '--password', 'too-short'], {env, timeoutMs: 60_000})
    assert.equal(short.code, 2, short.stderr)
    assert.match(short.stderr, /at least 12/)
    const badHome = await runCli(['users', 'add', 'homeless', '--home', 'relative', '--json'], {env, timeoutMs: 60_000})
    assert.equal(badHome.code, 2, badHome.stderr)
    assert.match(badHome.stdout, /must be absolute/)
    assert.equal((await status(P)).revision, added.revision, 'refused adds made no revision')

    const passwd = await runCli(['users', 'passwd', 'newcomer', '--password', 'another-long-password'], {env, timeoutMs: 60_000})
    assert.equal(passwd.code, 0, passwd.stderr)
    const removed = await runCli(['users', 'remove', 'newcomer', '--yes', '--json'], {env, timeoutMs: 60_000})
    assert.equal(removed.code, 0, removed.stderr)
    assert.equal(removed.json<{revision: number}>().revision, added.revision + 2)
    const gone = await runCli(['users', 'remove', 'newcomer', '--yes'], {env, timeoutMs: 60_000})
    assert.equal(gone.code, 1)
    assert.match(gone.stderr, /there is no user "newcomer"/)
    const [final] = await allIdentical('every node without the user', 60_000)
    assert.equal(final.revision, added.revision + 2)
  })
})
