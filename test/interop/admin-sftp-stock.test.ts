// The admin site's natural workflow with stock clients: OpenSSH `sftp -b` gets /config/current.json, the file
// is edited, `put` back (no baseRevision: its "revision" is the base) and the change is what `cluster config
// show` reports; a stale put is refused, and the refusal is listed by `cluster config history --rejected`;
// history files have their real size (rclone copies them), `df` works.
// Address: 127.0.46.1.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {ClusterConfig} from '../../src/config/schema.js'
import type {RejectedDocument} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {ADMIN_PASSWORD, createNode, sshKey, tempDir, type TestNode} from '../helpers/node-process.js'
import {hasTool, needs} from '../helpers/tools.js'

const A = '127.0.46.1'

describe('admin site with stock sftp', {skip: needs('sftp', 'ssh-keygen')}, () => {
  const root = tempDir()
  const cliDir = path.join(root, 'cli')
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: cliDir, CLUSTER_PRIMARY: A}
  let node: TestNode
  let key: {privateKey: string; publicKey: string}

  const sftp = (commands: string) =>
    spawnSync('sftp', ['-b', '-', '-P', '14983', '-i', key.privateKey, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', `admin@${A}`], {input: commands, cwd: root, encoding: 'utf8', timeout: 20_000})

  before(async () => {
    key = sshKey(root)
    node = await createNode(root, A, ['--admin-key', key.publicKey])
    await node.start()
  })
  after(async () => {
    await node.stop()
  })

  it('get, edit, put with sftp -b changes the configuration; config show sees it', async () => {
    const got = sftp('get /config/current.json current.json\n')
    assert.equal(got.status, 0, got.stderr)
    const doc = JSON.parse(readFileSync(path.join(root, 'current.json'), 'utf8')) as ClusterConfig
    assert.equal(doc.revision, 1)
    assert.equal((doc as unknown as Record<string, unknown>).baseRevision, undefined, 'the document read carries no baseRevision')
    doc.limits.idleTimeoutSeconds = 1234
    writeFileSync(path.join(root, 'current.json'), JSON.stringify(doc, null, 2))
    const put = sftp('put current.json /config/current.json\n')
    assert.equal(put.status, 0, put.stderr)
    const shown = await runCli(['config', 'show', '--json'], {env})
    assert.equal(shown.code, 0, shown.stderr)
    const c = shown.json<ClusterConfig>()
    assert.equal(c.limits.idleTimeoutSeconds, 1234)
    assert.equal(c.revision, 2)
    assert.equal(c.lastChange.by, 'admin')
  })

  it('a stale put is refused; config history --rejected shows when, who, from where and why', async () => {
    // current.json still says revision 1: the configuration is at 2 now
    const put = sftp('put current.json /config/current.json\n')
    assert.notEqual(put.status, 0, 'sftp reports the refusal')
    const r = await runCli(['config', 'history', '--rejected', '--json'], {env})
    assert.equal(r.code, 0, r.stderr)
    const doc = r.json<RejectedDocument>()
    assert.equal(doc.rejected.length, 1, JSON.stringify(doc))
    const [refusal] = doc.rejected
    assert.equal(refusal.by, 'admin')
    assert.match(refusal.from, /^127\./)
    assert.match(refusal.reason, /^conflict: stale baseRevision 1: the configuration is at revision 2/)
    assert.ok(Math.abs(Date.parse(refusal.time) - Date.now()) < 60_000, refusal.time)
    const table = await runCli(['config', 'history', '--rejected'], {env: {...env, NO_COLOR: '1'}})
    assert.match(table.stdout, /TIME\s+BY\s+FROM\s+REASON/)
    assert.match(table.stdout, /stale baseRevision 1/)
    // the durable log in the data directory, and the node's own log line
    assert.match(readFileSync(path.join(node.dir, 'config', 'rejected.log'), 'utf8'), /stale baseRevision 1/)
    assert.match(node.log, /configuration write refused.*stale baseRevision 1/)
    // nothing changed
    const shown = await runCli(['config', 'show', '--json'], {env})
    assert.equal(shown.json<ClusterConfig>().revision, 2)
  })

  it('history files are listed with their real size; df answers (statvfs@openssh.com)', () => {
    const r = sftp('ls -l /config/history\ndf -h /\n')
    assert.equal(r.status, 0, r.stderr)
    const sizes = [...r.stdout.matchAll(/^-\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s.*\b(\d+)\.json$/gm)].map((m) => Number(m[1]))
    assert.equal(sizes.length, 2, r.stdout)
    for (const s of sizes) assert.ok(s > 100, r.stdout)
    assert.match(r.stdout, /Size\s+Used\s+Avail/, r.stdout)
    // the size is that of the document a read gets
    const got = sftp('get /config/history/1.json h1.json\n')
    assert.equal(got.status, 0, got.stderr)
    assert.ok(sizes.includes(statSync(path.join(root, 'h1.json')).size), `${r.stdout} vs ${statSync(path.join(root, 'h1.json')).size}`)
  })

  it('rclone copies the history (it refuses files listed with size 0)', {skip: hasTool('rclone') ? false : needs('rclone')}, () => {
    const dest = path.join(root, 'rclone-history')
    mkdirSync(dest)
    const r = spawnSync('rclone', ['copy', ':sftp:/config/history', dest, '--sftp-host', A, '--sftp-port', '14983', '--sftp-user', 'admin', '--sftp-key-file', key.privateKey, '--sftp-shell-type', 'none', '--sftp-disable-hashcheck', '--retries', '1', '--low-level-retries', '1'], {encoding: 'utf8', timeout: 30_000, env: {...process.env, RCLONE_CONFIG: '/dev/null'}})
    assert.equal(r.status, 0, r.stderr)
    const files = readdirSync(dest).sort()
    assert.deepEqual(files, ['1.json', '2.json'])
    assert.equal(JSON.parse(readFileSync(path.join(dest, '2.json'), 'utf8')).limits.idleTimeoutSeconds, 1234)
  })
})
