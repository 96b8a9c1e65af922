// Pure parts of the operator CLI (issue 13): output flag parsing, table fitting, config paths, redaction,
// did-you-mean, ban lines, the defender's list/clear, apply's spec.
import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'
import {outputOf} from '../../src/cli/base-command.js'
import {applySpec, loadSpec} from '../../src/cli/apply-spec.js'
import {getPath, parsePath, parseValue, setPath} from '../../src/cli/config-path.js'
import {closest} from '../../src/cli/hooks/not-found.js'
import {redactHashes, restoreHashes} from '../../src/cli/redact.js'
import {fitWidths, renderTable} from '../../src/cli/ui/table.js'
import {addAdmin, removeAdmin} from '../../src/cli/admin-edit.js'
import {checkPassword} from '../../src/cli/user-password.js'
import {DEFAULT_DEFENDER} from '../../src/config/defaults.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {Defender} from '../../src/net/defender.js'
import {banLine, parseBanLine} from '../../src/protocol/index.js'
import {banCheck} from '../../src/protocol/diagnose.js'

const config = () => ({
  revision: 3,
  sync: {enabled: true, intervalSeconds: 60},
  users: [{name: 'alice', passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA', publicKeys: [], home: '/alice', permissions: ['list'], disabled: false}],
  adminUsers: [{name: 'admin', passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA', publicKeys: []}],
  sites: {admin: {port: 14983, ipFilter: []}, files: {ipFilter: [{action: 'allow', cidr: '0.0.0.0/0'}]}},
}) as unknown as ClusterConfig

describe('operator CLI parts', () => {
  it('outputOf reads -o json, -oyaml, --output=wide and --output table, not after --', () => {
    assert.equal(outputOf(['servers', '-o', 'json']), 'json')
    assert.equal(outputOf(['-oyaml']), 'yaml')
    assert.equal(outputOf(['--output=wide']), 'wide')
    assert.equal(outputOf(['--output', 'table']), 'table')
    assert.equal(outputOf(['--', '-o', 'json']), undefined)
  })

  it('fitWidths shrinks the widest columns to fit, never below their floor; renderTable lines fit the width', () => {
    assert.deepEqual(fitWidths([10, 50, 10], [4, 8, 4], 60), [10, 36, 10])
    assert.deepEqual(fitWidths([10, 10], [10, 10], 5), [10, 10])
    const long = 'x'.repeat(150)
    const text = renderTable(['HOST', 'ERROR'], [['127.0.0.2', `connection refused ${long}`]], 100)
    for (const line of text.split('\n')) assert.ok(line.length <= 100, line)
    assert.match(renderTable(['A'], [['b']]), /A\s*\nb/)
  })

  it('config paths: dots, [index] and names of users; a typo names the fields that exist', () => {
    assert.deepEqual(parsePath('users[0].home'), ['users', 0, 'home'])
    const c = config()
    assert.equal(getPath(c, 'users.alice.home'), '/alice')
    assert.equal(getPath(c, 'users[0].home'), '/alice')
    assert.throws(() => getPath(c, 'sync.interval'), (e: Error & {hint?: string}) => /"sync" has no "interval"/.test(e.message) && /its fields: enabled, intervalSeconds/.test(e.hint ?? ''))
    setPath(c as unknown as Record<string, unknown>, 'sync.intervalSeconds', parseValue('30'))
    assert.equal(c.sync.intervalSeconds, 30)
    assert.equal(parseValue('true'), true)
    assert.equal(parseValue('hello'), 'hello')
    assert.deepEqual(parseValue('["10.0.0.5/32"]'), ['10.0.0.5/32'])
    assert.throws(() => setPath(c as unknown as Record<string, unknown>, 'epoch', 2), /managed by the cluster/)
  })

  it('redactHashes replaces every scrypt hash, anywhere; restoreHashes puts them back by name', () => {
    const c = config()
    const shown = redactHashes({changes: [{path: 'users[0].passwordHash', primary: c.users[0].passwordHash, server: null}], config: c})
    assert.doesNotMatch(JSON.stringify(shown), /scrypt\$/)
    assert.equal(shown.changes[0].primary, 'scrypt:…')
    const edited = redactHashes(c)
    restoreHashes(edited, c)
    assert.equal(edited.users[0].passwordHash, c.users[0].passwordHash)
  })

  it('did you mean: hlep → help, sever → servers', () => {
    assert.equal(closest('hlep', ['help', 'servers', 'health']), 'help')
    assert.equal(closest('sever', ['help', 'servers', 'health']), 'servers')
  })

  it('a ban line round-trips: message and the command that lifts it; diagnose names it "ban"', () => {
    const line = banLine('10.0.0.11', '10.0.0.12:14983', '2026-12-02T06:00:00.000Z', 15)
    assert.ok(!line.startsWith('SSH-') && line.endsWith('\r\n'), 'RFC 4253: a line before the identification')
    const parsed = parseBanLine(line)!
    assert.match(parsed.message, /10\.0\.0\.11 is banned from the admin endpoint of 10\.0\.0\.12:14983 until 2026-12-02T06:00:00\.000Z after 15/)
    assert.match(parsed.hint, /`cluster bans clear 10\.0\.0\.11 --node 10\.0\.0\.12:14983`/)
    assert.equal(parseBanLine('SSH-2.0-x\r\n'), undefined)
    assert.equal(banCheck(line).ok, false)
    assert.equal(banCheck('SSH-2.0-x\r\n').ok, true)
  })

  it('Defender list/clear: listener and failures shown, clear lifts one, clearAll every ban', () => {
    let now = 1_000_000
    const d = new Defender({...DEFAULT_DEFENDER, threshold: 2}, 100, () => now)
    d.recordFailure('10.0.0.1', undefined, 'admin')
    d.recordFailure('10.0.0.1', undefined, 'admin')
    d.recordFailure('10.0.0.2', undefined, 'sftp')
    d.recordFailure('10.0.0.2', undefined, 'sftp')
    const bans = d.list()
    assert.deepEqual(bans.map((b) => [b.address, b.listener, b.failures]), [['10.0.0.1', 'admin', 2], ['10.0.0.2', 'sftp', 2]])
    assert.equal(d.clear('10.0.0.1'), true)
    assert.equal(d.isBanned('10.0.0.1'), false)
    assert.equal(d.clear('10.0.0.1'), false)
    assert.deepEqual(d.clearAll(), ['10.0.0.2'])
    now += 1
    assert.equal(d.list().length, 0)
  })

  it('admins: a key for an existing admin is added once; the last admin cannot be removed', () => {
    const c = config()
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl cron'
    assert.equal(addAdmin(c, 'admin', null, [key]).created, false)
    addAdmin(c, 'admin', null, [key])
    assert.equal(c.adminUsers[0].publicKeys.length, 1)
    assert.throws(() => addAdmin(c, 'admin', 'scrypt$x', []), /already exists/)
    assert.throws(() => removeAdmin(c, 'admin'), /last admin/)
  })

  it('password policy: a clear error naming the setting', () => {
    assert.throws(() => checkPassword('short', 12, '--password for "bob"'), /5 characters; the cluster's policy asks for at least 12[\s\S]*/)
    assert.doesNotThrow(() => checkPassword('twelve-chars', 12, 'x'))
  })

  it('apply: YAML spec → the same configuration twice (idempotent); unknown fields are named', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'apply-spec-'))
    const file = path.join(dir, 'c.yaml')
    writeFileSync(file, 'users:\n  - {name: alice, permissions: [list, download], home: /a}\nipFilter:\n  admin: [{allow: 10.0.0.0/8}]\nsync: {intervalSeconds: 30}\nsettings:\n  sync.enabled: false\n')
    const spec = await loadSpec(file)
    const c = config()
    applySpec(c, spec, new Map())
    const once = JSON.stringify(c)
    applySpec(c, spec, new Map())
    assert.equal(JSON.stringify(c), once)
    assert.deepEqual(c.users[0].permissions, ['list', 'download'])
    assert.deepEqual(c.sites.admin.ipFilter, [{action: 'allow', cidr: '10.0.0.0/8'}])
    assert.equal(c.sync.intervalSeconds, 30)
    assert.equal(c.sync.enabled, false)
    writeFileSync(file, 'users:\n  - {name: bob, password: hunter2}\n')
    await assert.rejects(loadSpec(file), /users\[0\]\.password: unknown field \(passwords come from an environment variable: passwordEnv\)/)
  })
})
