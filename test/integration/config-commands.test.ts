// The configuration commands against a real 3-node cluster: users, ipfilter, config diff/history/rollback.
// Changes are made on the primary and must reach both secondaries. Addresses: 127.0.3.0/24 only.
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {diffConfigs} from '../../src/config/config-diff.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {ADMIN_PASSWORD, createNode, pollUntil, sshKey, tempDir, type TestNode} from '../helpers/node-process.js'

const P = '127.0.3.2'
const S1 = '127.0.3.3'
const S2 = '127.0.3.4'
/** The CLI and the test connect from here, so the admin IP filter sees a known address. */
const ME = '127.0.3.10'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

describe('configuration commands on a 3-node cluster', () => {
  const root = tempDir()
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: P, CLUSTER_LOCAL_ADDRESS: ME}
  const nodes: TestNode[] = []
  const clients = new Map<string, AdminClient>()
  let baseline = 0

  const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, {env: {...env, ...extra}})

  /** An admin session to a node, reopened when the node restarted. */
  async function admin(host: string): Promise<AdminClient> {
    let c = clients.get(host)
    if (!c) {
      c = await AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}, localAddress: ME, timeoutMs: 3000})
      const opened = c
      c.onClose(() => clients.get(host) === opened && clients.delete(host))
      clients.set(host, c)
    }
    return c
  }
  const status = async (host: string) => (await admin(host)).exec<NodeStatus>('status', null)
  const configOf = async (host: string) => (await admin(host)).readJson<ClusterConfig>(PATHS.config)
  /** Both secondaries at `revision` or later, within `ms` (a poll with a deadline). */
  const bothAt = (revision: number, ms = 1000) => Promise.all([S1, S2].map((h) => pollUntil(async () => (await status(h)).revision >= revision, `${h} at revision ${revision}`, ms)))

  before(async () => {
    for (const bind of [P, S1, S2]) nodes.push(await createNode(root, bind))
    await Promise.all(nodes.map((n) => n.start()))
    for (const s of [S1, S2]) {
      const r = await cli(['add-server', s, '--json'])
      assert.equal(r.code, 0, r.stderr + r.stdout)
    }
    baseline = (await status(P)).revision
    await bothAt(baseline, 5000)
  })

  after(async () => {
    for (const c of clients.values()) c.close()
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('users add on the primary: both secondaries serve the new revision within 1 s', async () => {
    const r = await cli(['users', 'add', 'alice', '--permissions', 'list,download', '--json'], {CLUSTER_USER_PASSWORD: 'alice-password-1'})
    assert.equal(r.code, 0, r.stderr)
    const {revision, user} = r.json<Json>()
    assert.deepEqual(user, {name: 'alice', home: '/alice', permissions: ['list', 'download'], publicKeys: [], hasPassword: true, disabled: false})
    await bothAt(revision)
    for (const s of [S1, S2]) {
      const alice = (await configOf(s)).users.find((u) => u.name === 'alice')
      assert.match(alice?.passwordHash ?? '', /^scrypt\$/, `${s} has alice with a hash, never the clear password`)
    }
    await pollUntil(() => AdminClient.connect({host: S2, port: 2222, credentials: {username: 'alice', password: 'alice-password-1'}, checkHostKey: () => {}, localAddress: ME, timeoutMs: 3000}).then((c) => (c.close(), true)), 'alice logs in on a secondary', 3000)
  })

  it('users add without a password or key is a usage error naming --password; a duplicate is refused', async () => {
    const missing = await cli(['users', 'add', 'nokey'])
    assert.equal(missing.code, 2, missing.stderr)
    assert.match(missing.stderr, /--password/)
    const dup = await cli(['users', 'add', 'alice', '--password', 'x', '--json'])
    assert.equal(dup.code, 1)
    assert.match(dup.json<Json>().error.message, /already exists/)
  })

  it('users list, passwd and remove propagate, and never show a hash', async () => {
    const key = sshKey(root)
    const add = await cli(['users', 'add', 'deploy', '--public-key', key.publicKey, '--home', '/sites', '--json'])
    assert.equal(add.code, 0, add.stderr)
    const list = await cli(['users', 'list', '--json'])
    assert.equal(list.code, 0, list.stderr)
    assert.doesNotMatch(list.stdout, /scrypt/)
    const deploy = list.json<Json>().users.find((u: Json) => u.name === 'deploy')
    assert.equal(deploy.hasPassword, false)
    assert.equal(deploy.home, '/sites')
    assert.match(deploy.publicKeys[0].fingerprint, /^SHA256:/)
    const human = await cli(['users', 'list'])
    assert.match(human.stdout, /NAME\s+HOME\s+PERMISSIONS/)
    assert.match(human.stdout, /alice\s+\/alice\s+list,download/)

    const before = (await configOf(S1)).users.find((u) => u.name === 'alice')!.passwordHash
    const pw = await cli(['users', 'passwd', 'alice', '--json'], {CLUSTER_USER_PASSWORD: 'alice-password-2'})
    assert.equal(pw.code, 0, pw.stderr)
    await bothAt(pw.json<Json>().revision)
    assert.notEqual((await configOf(S1)).users.find((u) => u.name === 'alice')!.passwordHash, before)
    const noPw = await cli(['users', 'passwd', 'alice'])
    assert.equal(noPw.code, 2)
    assert.match(noPw.stderr, /--password/)

    const rm = await cli(['users', 'remove', 'deploy', '--json'])
    assert.equal(rm.code, 0, rm.stderr)
    await bothAt(rm.json<Json>().revision)
    for (const s of [S1, S2]) assert.equal((await configOf(s)).users.some((u) => u.name === 'deploy'), false)
    const again = await cli(['users', 'remove', 'deploy'])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /no user "deploy"/)
  })

  it('ipfilter add, list and remove propagate; a new rule goes to the top', async () => {
    const add = await cli(['ipfilter', 'add', '--deny', '203.0.113.0/24', '--json'])
    assert.equal(add.code, 0, add.stderr)
    const added = add.json<Json>()
    assert.deepEqual(added.added, {position: 1, action: 'deny', cidr: '203.0.113.0/24'})
    assert.equal(added.site, 'files')
    await bothAt(added.revision)
    for (const s of [S1, S2]) assert.deepEqual((await configOf(s)).sites.files.ipFilter[0], {action: 'deny', cidr: '203.0.113.0/24'})
    const list = await cli(['ipfilter', 'list', '--site', 'files', '--json'])
    assert.deepEqual(list.json<Json>().sites.files[0], {position: 1, action: 'deny', cidr: '203.0.113.0/24'})
    const both = await cli(['ipfilter', 'list'])
    assert.match(both.stdout, /admin site[\s\S]*127\.0\.0\.0\/8[\s\S]*files site[\s\S]*deny\s+203\.0\.113\.0\/24/)

    const rm = await cli(['ipfilter', 'remove', '203.0.113.0/24', '--json'])
    assert.equal(rm.code, 0, rm.stderr)
    await bothAt(rm.json<Json>().revision)
    for (const s of [S1, S2]) assert.equal((await configOf(s)).sites.files.ipFilter.some((r) => r.cidr === '203.0.113.0/24'), false)
  })

  it('an admin rule that locks out the primary or this machine is refused unless --force', async () => {
    const primary = await cli(['ipfilter', 'add', '--deny', '127.0.3.0/24', '--site', 'admin'])
    assert.equal(primary.code, 1)
    assert.match(primary.stderr, /lock out the primary 127\.0\.3\.2 \(rule 1 "deny 127\.0\.3\.0\/24" denies it\) and this machine 127\.0\.3\.10/)
    assert.match(primary.stderr, /--force/)
    const other = '127.0.3.11'
    const me = await cli(['ipfilter', 'add', '--deny', `${other}/32`, '--site', 'admin'], {CLUSTER_LOCAL_ADDRESS: other})
    assert.equal(me.code, 1)
    assert.match(me.stderr, /this machine 127\.0\.3\.11/)
    assert.equal((await status(P)).revision, (await configOf(P)).revision, 'nothing was written')

    const forced = await cli(['ipfilter', 'add', '--deny', `${other}/32`, '--site', 'admin', '--force', '--json'], {CLUSTER_LOCAL_ADDRESS: other})
    assert.equal(forced.code, 0, forced.stderr)
    await bothAt(forced.json<Json>().revision)
    const locked = await cli(['users', 'list'], {CLUSTER_LOCAL_ADDRESS: other})
    assert.equal(locked.code, 1)
    assert.match(locked.stderr, /IP filter/)
    const undo = await cli(['ipfilter', 'remove', other, '--site', 'admin', '--json'])
    assert.equal(undo.code, 0, undo.stderr)
    await bothAt(undo.json<Json>().revision)
  })

  it('config diff: identical, then a hand-edited secondary differs (exit 3) until cluster sync', async () => {
    const all = await cli(['config', 'diff', '--json'])
    assert.equal(all.code, 0, all.stdout + all.stderr)
    assert.equal(all.json<Json>().identical, true)
    assert.equal(all.json<Json>().servers.length, 2)
    // A booting secondary pulls from the primary and the periodic check repairs drift: keep both away, so
    // the drift stays until `cluster sync`.
    for (const args of [['ipfilter', 'add', '--deny', S1, '--site', 'admin'], ['sync', 'settings', '--disable']]) {
      const r = await cli([...args, '--json'])
      assert.equal(r.code, 0, r.stderr)
      await bothAt(r.json<Json>().revision)
    }
    const s1 = nodes[1]
    await s1.stop()
    const file = path.join(s1.dir, 'config', 'current.json')
    const edited = JSON.parse(readFileSync(file, 'utf8')) as ClusterConfig
    edited.limits.idleTimeoutSeconds += 1
    writeFileSync(file, JSON.stringify(edited, null, 2))
    await s1.start()

    const one = await cli(['config', 'diff', S1, '--json'])
    assert.equal(one.code, 3, one.stdout + one.stderr)
    const report = one.json<Json>()
    assert.equal(report.identical, false)
    assert.equal(report.primaryRevision, report.serverRevision)
    assert.deepEqual(report.changes.map((c: Json) => c.path), ['limits.idleTimeoutSeconds'])
    const human = await cli(['config', 'diff'])
    assert.equal(human.code, 3)
    assert.match(human.stdout, /127\.0\.3\.3:14983 differs[\s\S]*limits\.idleTimeoutSeconds[\s\S]*127\.0\.3\.4:14983 is identical/)

    const sync = await cli(['sync', S1, '--json'])
    assert.equal(sync.code, 0, sync.stdout + sync.stderr)
    const fixed = await cli(['config', 'diff', S1, '--json'])
    assert.equal(fixed.code, 0, fixed.stdout)
    assert.equal(fixed.json<Json>().identical, true)

    for (const args of [['ipfilter', 'remove', S1, '--site', 'admin'], ['sync', 'settings', '--enable']]) {
      const r = await cli([...args, '--json'])
      assert.equal(r.code, 0, r.stderr)
      await bothAt(r.json<Json>().revision)
    }
  })

  it('config history lists revisions newest first with who, from where and when', async () => {
    const current = (await status(P)).revision
    const r = await cli(['config', 'history', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const h = r.json<Json>()
    assert.equal(h.current, current)
    assert.equal(h.revisions.length, Math.min(20, h.kept))
    assert.equal(h.revisions[0].revision, current)
    assert.deepEqual(h.revisions.map((e: Json) => e.revision), [...h.revisions.map((e: Json) => e.revision)].sort((a, b) => b - a))
    assert.equal(h.revisions[0].by, 'admin')
    assert.equal(h.revisions[0].from, ME)
    assert.ok(Date.parse(h.revisions[0].time) > 0)
    const limited = await cli(['config', 'history', '--limit', '3', '--json'])
    assert.equal(limited.json<Json>().revisions.length, 3)
  })

  it('config rollback restores an earlier revision as a new one, on every node', async () => {
    const r = await cli(['config', 'rollback', String(baseline), '--yes', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const out = r.json<Json>()
    assert.equal(out.rolledBack, true)
    assert.deepEqual(out.kept, [])
    await bothAt(out.revision)
    const target = await (await admin(P)).readJson<ClusterConfig>(`${PATHS.historyDir}/${baseline}.json`)
    const content = (c: unknown) => diffConfigs(target, c).filter((d) => d.path !== 'revision' && !d.path.startsWith('lastChange'))
    assert.deepEqual(content(await configOf(P)), [])
    assert.deepEqual(content(await configOf(S2)), [])
    assert.equal((await configOf(S1)).users.length, 0, 'alice is gone again')
    const again = await cli(['config', 'rollback', String(baseline), '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.json<Json>().rolledBack, false)
    const missing = await cli(['config', 'rollback', '999999'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /revision 999999 is not in the history/)
  })

  it('a change sent to a secondary is refused with the primary\'s address', async () => {
    const r = await cli(['users', 'add', 'carol', '--password', 'carol-password-1', '--primary', S1])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /127\.0\.3\.2:14983/)
    const ip = await cli(['ipfilter', 'add', '--allow', '192.0.2.1', '--primary', S2, '--json'])
    assert.equal(ip.code, 1)
    assert.match(ip.json<Json>().error.message, /primary 127\.0\.3\.2:14983/)
  })
})
