// The operator's CLI against real nodes (issue 13): bans you can see and lift, diagnose hints that fix the
// problem when run, read commands pointed at a secondary, idempotent provisioning, admins, config get/set,
// redaction, contexts. Addresses: 127.0.90.0/24 only (primary .2, candidate .3, standalone .4, CLI .10).
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {DiagnoseReport} from '../../src/commands/diagnose.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import type {BansResult, NodeStatus} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {CLI, ROOT} from '../helpers/paths.js'
import {ADMIN_PASSWORD, createNode, sshKey, tempDir, type TestNode} from '../helpers/node-process.js'

const [P, S1, S2, ME] = ['127.0.90.2', '127.0.90.3', '127.0.90.4', '127.0.90.10']
const WRONG = 'not-the-admin-password'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const failing = (r: DiagnoseReport) => r.checks.filter((c) => !c.ok && !c.detail.startsWith('skipped:')).map((c) => c.name)
/** The first command quoted in a hint: `cluster …`. */
const hintCommand = (hint: string | undefined) => /`cluster ([^`]+)`/.exec(hint ?? '')?.[1].split(' ')

describe('operator CLI (issue 13) on real nodes', () => {
  const root = tempDir()
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: P, CLUSTER_LOCAL_ADDRESS: ME}
  const nodes: Record<string, TestNode> = {}
  const cli = (args: string[], extra: Record<string, string | undefined> = {}) => runCli(args, {env: {...env, ...extra}})
  const revisionOf = async (host: string) => {
    const c = await AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}, localAddress: ME, timeoutMs: 3000})
    try {
      return (await c.exec<NodeStatus>('status', null)).revision
    } finally {
      c.close()
    }
  }
  /** A failed admin login from `from` (the defender scores it). */
  const failLogin = (host: string, from: string) => AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: WRONG}, checkHostKey: () => {}, localAddress: from, timeoutMs: 3000}).then((c) => c.close(), (e: Error) => e)

  before(async () => {
    for (const ip of [P, S1, S2]) nodes[ip] = await createNode(root, ip)
    await Promise.all(Object.values(nodes).map((n) => n.start()))
    // A low threshold and no delay, so a ban takes two failed logins (config set on each standalone node).
    for (const ip of [P, S1, S2]) {
      for (const [k, v] of [['defender.threshold', '2'], ['defender.failDelayMs', '0']]) {
        const r = await cli(['config', 'set', k, v, '--primary', ip, '--json'])
        assert.equal(r.code, 0, r.stderr + r.stdout)
      }
    }
  })

  after(async () => {
    await Promise.all(Object.values(nodes).map((n) => n.stop()))
  })

  it('add-server with a wrong password gets the primary banned: the error is the ban line (not the IP filter) and bans clear --node lifts it', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await cli(['add-server', S1, '--yes'], {CLUSTER_SECONDARY_PASSWORD: WRONG})
      assert.equal(r.code, 1, r.stderr)
    }
    const banned = await cli(['add-server', S1, '--yes'])
    assert.equal(banned.code, 1, banned.stderr)
    assert.match(banned.stderr, /127\.0\.90\.2 is banned from the admin endpoint of 127\.0\.90\.3:14983 until/)
    assert.match(banned.stderr, /cluster bans clear 127\.0\.90\.2 --node 127\.0\.90\.3:14983/)
    assert.doesNotMatch(banned.stderr, /IP filter/i)

    const diag = await cli(['diagnose', S1, '--from-primary', '--json'])
    assert.equal(diag.code, 3, diag.stderr)
    assert.deepEqual(failing(diag.json<DiagnoseReport>()), ['ban'])

    const list = await cli(['bans', 'list', '--node', S1, '--json'])
    assert.equal(list.code, 0, list.stderr)
    const ban = list.json<BansResult>().nodes[0].bans.find((b) => b.address === P)
    assert.ok(ban, list.stdout)
    assert.equal(ban.listener, 'admin')
    assert.ok(ban.failures >= 2)

    // The hint's command, run as it says, fixes it.
    const fix = hintCommand(diag.json<DiagnoseReport>().checks.find((c) => c.name === 'ban')?.hint)
    assert.deepEqual(fix, ['bans', 'clear', P, '--node', `${S1}:14983`])
    const cleared = await cli([...fix!, '--json'])
    assert.equal(cleared.code, 0, cleared.stderr)
    assert.deepEqual(cleared.json<BansResult>().nodes[0].cleared, [P])
    const again = await cli(['diagnose', S1, '--from-primary', '--json'])
    assert.equal(again.code, 0, again.stdout)

    const added = await cli(['add-server', S1, '--yes', '--json'])
    assert.equal(added.code, 0, added.stderr)
  })

  it('add-server of a registered, in-sync server is a no-op with exit 0 and no new revision', async () => {
    const before = await revisionOf(P)
    const r = await cli(['add-server', S1, '--yes', '--json'], {CLUSTER_SECONDARY_PASSWORD: undefined})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json<Json>().unchanged, true)
    assert.equal(await revisionOf(P), before)
  })

  it('a ban never blocks a member\'s cluster key; bans list and clear work cluster-wide through the primary', async () => {
    for (let i = 0; i < 2; i++) await failLogin(S1, P)
    const sync = await cli(['sync', '--json'])
    assert.equal(sync.code, 0, sync.stderr + sync.stdout)
    const list = await cli(['bans', 'list', '--json'])
    assert.equal(list.code, 0, list.stderr)
    const doc = list.json<BansResult>()
    assert.equal(doc.nodes.length, 2)
    assert.ok(doc.nodes.find((n) => n.host === S1)?.bans.some((b) => b.address === P), list.stdout)
    const cleared = await cli(['bans', 'clear', P, '--json'])
    assert.equal(cleared.code, 0, cleared.stderr)
    assert.deepEqual(cleared.json<BansResult>().nodes.find((n) => n.host === S1)?.cleared, [P])
  })

  it('diagnose and add-server on the files SFTP port say so; the hinted admin port passes', async () => {
    const d = await cli(['diagnose', `${S2}:2222`, '--json'])
    assert.equal(d.code, 3)
    const report = d.json<DiagnoseReport>()
    assert.deepEqual(failing(report), ['ssh-banner'])
    const fix = hintCommand(report.checks.find((c) => c.name === 'ssh-banner')?.hint)
    assert.deepEqual(fix, ['diagnose', `${S2}:14983`])
    const fixed = await cli(['diagnose', `${S2}:14983`, '--json'])
    assert.equal(fixed.code, 0, fixed.stdout)
    const add = await cli(['add-server', `${S2}:2222`, '--yes', '--dry-run'])
    assert.equal(add.code, 2, add.stderr)
    assert.match(add.stderr, /files site's SFTP/)
    assert.match(add.stderr, /cluster add-server 127\.0\.90\.4:14983/)
  })

  it('diagnose --from-primary on a candidate checks add-server\'s password: a wrong one fails "auth", the right one passes', async () => {
    const bad = await cli(['diagnose', S2, '--from-primary', '--json'], {CLUSTER_SECONDARY_PASSWORD: 'x'.repeat(14)})
    assert.equal(bad.code, 3)
    assert.deepEqual(failing(bad.json<DiagnoseReport>()), ['auth'])
    assert.match(bad.json<DiagnoseReport>().checks.find((c) => c.name === 'auth')!.hint!, /CLUSTER_SECONDARY_PASSWORD/)
    await cli(['bans', 'clear', '--all', '--node', S2, '--yes'])
    const good = await cli(['diagnose', S2, '--from-primary', '--json'])
    assert.equal(good.code, 0, good.stdout)
  })

  it('diagnose: an IP filter on a standalone candidate names the rule to add on the candidate; running it fixes it', async () => {
    // Deny the primary on S2 (from this machine, which S2 still allows).
    const deny = await cli(['ipfilter', 'add', '--deny', `${P}/32`, '--site', 'admin', '--primary', S2, '--json'])
    assert.equal(deny.code, 0, deny.stderr)
    const d = await cli(['diagnose', S2, '--from-primary', '--json'])
    assert.equal(d.code, 3)
    const check = d.json<DiagnoseReport>().checks.find((c) => c.name === 'ip-filter')!
    assert.deepEqual(failing(d.json<DiagnoseReport>()), ['ip-filter'])
    const fix = hintCommand(check.hint)
    assert.deepEqual(fix, ['ipfilter', 'add', '--allow', `${P}/32`, '--site', 'admin', '--primary', `${S2}:14983`])
    assert.equal((await cli([...fix!, '--json'])).code, 0)
    assert.equal((await cli(['diagnose', S2, '--from-primary', '--json'])).code, 0)
  })

  it('diagnose: a changed host key fails "host-key" and the hinted --host-key pins the new one', async () => {
    const known = path.join(root, 'cli-hostkey')
    const first = await cli(['node', 'status', S2, '--json'], {CLUSTER_CONFIG_DIR: known})
    assert.equal(first.code, 0, first.stderr)
    // Pin a different key for S2, as if it had been re-initialised.
    const r = await cli(['diagnose', S2, '--host-key', 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '--json'], {CLUSTER_CONFIG_DIR: known})
    assert.equal(r.code, 3)
    assert.deepEqual(failing(r.json<DiagnoseReport>()), ['host-key'])
    const fix = hintCommand(r.json<DiagnoseReport>().checks.find((c) => c.name === 'host-key')?.hint)
    assert.ok(fix, r.stdout)
    assert.equal((await cli([...fix!, '--json'], {CLUSTER_CONFIG_DIR: known})).code, 0)
    assert.equal((await cli(['diagnose', S2, '--json'], {CLUSTER_CONFIG_DIR: known})).code, 0)
  })

  it('diagnose: nothing listening fails "tcp" with the command that starts the node', async () => {
    const r = await cli(['diagnose', '127.0.90.5', '--json', '--timeout', '2'])
    assert.equal(r.code, 3)
    const report = r.json<DiagnoseReport>()
    assert.deepEqual(failing(report), ['tcp'])
    assert.match(report.checks.find((c) => c.name === 'tcp')!.hint!, /cluster node start DIR/)
  })

  it('read commands pointed at a secondary say so and follow to the primary; --no-follow exits 1', async () => {
    const follow = await cli(['servers', '--json'], {CLUSTER_PRIMARY: S1})
    assert.equal(follow.code, 0, follow.stderr)
    assert.match(follow.stderr, /127\.0\.90\.3:14983 is a secondary; the primary is 127\.0\.90\.2:14983/)
    assert.ok(follow.json<Json>().servers.length >= 2)
    const strict = await cli(['sync', 'check', '--no-follow'], {CLUSTER_PRIMARY: S1})
    assert.equal(strict.code, 1, strict.stderr)
    assert.match(strict.stderr, /is a secondary; the primary is 127\.0\.90\.2:14983/)
  })

  it('config set is generic over the schema (JSON values, a bad field named, the same value is no revision); config get reads it', async () => {
    const set = await cli(['config', 'set', 'sites.files.proxyProtocol.trustedProxies', '["10.0.0.5/32"]', '--json'])
    assert.equal(set.code, 0, set.stderr)
    assert.equal(set.json<Json>().changed, true)
    const rev = await revisionOf(P)
    const same = await cli(['config', 'set', 'sites.files.proxyProtocol.trustedProxies', '["10.0.0.5/32"]', '--json'])
    assert.equal(same.json<Json>().changed, false)
    assert.equal(await revisionOf(P), rev)
    const get = await cli(['config', 'get', 'sites.files.proxyProtocol.trustedProxies', '--json'])
    assert.deepEqual(get.json<Json>().value, ['10.0.0.5/32'])
    const bad = await cli(['config', 'set', 'sync.intervalSeconds', 'soon'])
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(bad.stderr, /sync\.intervalSeconds/)
    const typo = await cli(['config', 'set', 'sync.intervalSecs.x', '5'])
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /its fields: enabled, intervalSeconds/)
  })

  it('admins: add with a key, list, passwd under the policy, never remove the last; hashes redacted everywhere unless --show-secrets', async () => {
    const key = sshKey(root, 'cron_key')
    const add = await cli(['admins', 'add', 'cron', '--public-key', key.publicKey, '--json'])
    assert.equal(add.code, 0, add.stderr)
    const again = await cli(['admins', 'add', 'cron', '--public-key', key.publicKey, '--json'])
    assert.equal(again.json<Json>().changed, false)
    const viaKey = await cli(['node', 'status', '--json'], {CLUSTER_PASSWORD: undefined, CLUSTER_USER: 'cron', CLUSTER_KEY_FILE: key.privateKey})
    assert.equal(viaKey.code, 0, viaKey.stderr)
    const short = await cli(['admins', 'passwd', 'cron'], {CLUSTER_ADMIN_PASSWORD: 'short'})
    assert.equal(short.code, 2)
    assert.match(short.stderr, /at least 12/)
    assert.match(short.stderr, /passwordPolicy\.minLength/)
    const shortUser = await cli(['users', 'add', 'eve'], {CLUSTER_USER_PASSWORD: 'x'})
    assert.equal(shortUser.code, 2)
    assert.equal((await cli(['admins', 'remove', 'cron', '--yes'])).code, 0)
    const last = await cli(['admins', 'remove', 'admin', '--yes'])
    assert.equal(last.code, 1)
    assert.match(last.stderr, /last admin/)
    const show = await cli(['config', 'show', '--json'])
    assert.doesNotMatch(show.stdout, /scrypt\$/)
    assert.match(show.stdout, /scrypt:…/)
    assert.match((await cli(['config', 'show', '--json', '--show-secrets'])).stdout, /scrypt\$/)
  })

  it('provisioning: the README\'s script, run twice in CI mode, passes both times and the second run makes no revision', async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    const script = /<!-- provision\.sh -->\n```sh\n([\s\S]*?)```/.exec(readme)?.[1]
    const yaml = /`cluster\.yaml`[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1]
    assert.ok(script && yaml, 'the README has the provisioning script and its cluster.yaml')
    const work = path.join(root, 'provision')
    mkdirSync(path.join(work, 'bin'), {recursive: true})
    writeFileSync(path.join(work, 'cluster.yaml'), yaml)
    sshKey(work, 'deploy')
    sshKey(work, 'cron')
    // `cluster` on PATH, as after `npm link`.
    writeFileSync(path.join(work, 'bin', 'cluster'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, {mode: 0o755})
    const run = () => spawnSync('sh', ['-c', script], {
      cwd: work,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env, ...env, NO_COLOR: '1', PATH: `${path.join(work, 'bin')}:${process.env.PATH}`,
        NODE_DIR: path.join(work, 'node'), NODE_BIND: '127.0.90.6', SECONDARY: S1,
        CLUSTER_ADMIN_PASSWORD: ADMIN_PASSWORD, CLUSTER_USER_PASSWORD: 'bob-long-password', ALICE_PASSWORD: 'alice-long-password',
      },
    })
    const first = run()
    assert.equal(first.status, 0, first.stderr + first.stdout)
    const revision = await revisionOf(P)
    const second = run()
    assert.equal(second.status, 0, second.stderr + second.stdout)
    assert.equal(await revisionOf(P), revision, `the second run made no new revision:\n${second.stdout}`)
    const spec = path.join(work, 'cluster.yaml')
    const dry = await cli(['apply', '-f', spec, '--dry-run', '--json'], {ALICE_PASSWORD: 'alice-long-password'})
    assert.equal(dry.code, 0, dry.stdout)
    writeFileSync(path.join(work, 'drift.json'), JSON.stringify({sync: {intervalSeconds: 45}}))
    const drift = await cli(['apply', '-f', path.join(work, 'drift.json'), '--dry-run', '--json'])
    assert.equal(drift.code, 3, drift.stdout)
    assert.deepEqual(drift.json<Json>().changes.map((c: Json) => c.path), ['sync.intervalSeconds'])
  })

  it('contexts: add refuses an existing name without --force; --context, current, rename; errors name the context', async () => {
    const dir = {CLUSTER_CONFIG_DIR: path.join(root, 'cli-ctx'), CLUSTER_PRIMARY: undefined}
    assert.equal((await cli(['context', 'add', 'lab', '--primary', P], dir)).code, 0)
    const dup = await cli(['context', 'add', 'lab', '--primary', S1], dir)
    assert.equal(dup.code, 2)
    assert.match(dup.stderr, /--force/)
    assert.equal((await cli(['context', 'add', 'dead', '--primary', '127.0.90.5'], dir)).code, 0)
    assert.equal((await cli(['context', 'current', '--json'], dir)).json<Json>().name, 'lab')
    const viaFlag = await cli(['servers', '--context', 'dead', '--timeout', '2'], dir)
    assert.equal(viaFlag.code, 1)
    assert.match(viaFlag.stderr, /context "dead"/)
    assert.equal((await cli(['context', 'rename', 'lab', 'prod'], dir)).code, 0)
    assert.equal((await cli(['context', 'current', '--json'], dir)).json<Json>().name, 'prod')
    const servers = await cli(['servers', '--json'], dir)
    assert.equal(servers.code, 0, servers.stderr)
  })

  it('health with the primary down checks the nodes cached in the context and says which one to promote', async () => {
    const dir = {CLUSTER_CONFIG_DIR: path.join(root, 'cli-ctx'), CLUSTER_PRIMARY: undefined}
    assert.equal((await cli(['servers'], dir)).code, 0) // caches the list in context "prod"
    await nodes[P].stop()
    const r = await cli(['health', '--timeout', '2'], dir)
    assert.equal(r.code, 3, r.stderr + r.stdout)
    assert.match(r.stdout, /no primary: promote one with `cluster promote 127\.0\.90\.3:14983`/)
    const json = await cli(['health', '--timeout', '2', '--json'], dir)
    const doc = json.json<Json>()
    assert.equal(doc.primaryReachable, false)
    assert.ok(doc.nodes.some((n: Json) => n.host === S1 && n.healthy), json.stdout)
  })
})
