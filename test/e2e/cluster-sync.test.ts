// A real 3-node cluster (127.0.4.2 primary, .3 and .4 secondaries) driven by the CLI: membership, push on
// change, catch-up after downtime, backups, IP-filter troubleshooting, promote and fencing.
// Addresses: 127.0.4.0/24 only.
import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus, type ServersDocument} from '../../src/protocol/index.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {runCli} from '../helpers/cli.js'
import {ADMIN_PASSWORD, createNode, pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'

const [P, S1, S2, S3] = ['127.0.4.2', '127.0.4.3', '127.0.4.4', '127.0.4.5']

async function admin(host: string): Promise<AdminClient> {
  return AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
}

async function status(host: string): Promise<NodeStatus> {
  const c = await admin(host)
  try {
    return await c.exec<NodeStatus>('status', null)
  } finally {
    c.close()
  }
}

async function change(host: string, mutate: (c: ClusterConfig) => void): Promise<number> {
  const c = await admin(host)
  try {
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    mutate(config)
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    return config.revision + 1
  } finally {
    c.close()
  }
}

describe('cluster sync (e2e)', () => {
  const root = tempDir()
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: P}
  const nodes: Record<string, TestNode> = {}

  before(async () => {
    for (const ip of [P, S1, S2, S3]) nodes[ip] = await createNode(root, ip)
    await Promise.all([P, S1, S2, S3].map((ip) => nodes[ip].start()))
  })
  after(async () => {
    await Promise.all(Object.values(nodes).map((n) => n.stop()))
  })

  it('two add-server runs make a 3-node cluster, all in sync at the same revision', async () => {
    for (const ip of [S1, S2]) {
      const r = await runCli(['add-server', ip, '--json'], {env})
      assert.equal(r.code, 0, r.stderr + r.stdout)
      assert.match(r.stderr, /backing up/)
      assert.match(r.stderr, /in sync at revision/)
    }
    const r = await runCli(['servers', '--json'], {env})
    assert.equal(r.code, 0, r.stderr)
    const doc = r.json<ServersDocument>()
    assert.equal(doc.servers.length, 3)
    assert.deepEqual(doc.servers.map((s) => s.role), ['primary', 'secondary', 'secondary'])
    assert.ok(doc.servers.every((s) => s.state === 'in-sync' && s.revision === doc.revision), JSON.stringify(doc))
    assert.ok(doc.servers.slice(1).every((s) => s.lastSynchronized !== null))
    assert.equal((await status(S1)).role, 'secondary')
    const check = await runCli(['sync', 'check'], {env})
    assert.equal(check.code, 0, check.stdout + check.stderr)
  })

  it('the secondary\'s previous configuration can be recovered from config/backups/', () => {
    const dir = path.join(nodes[S1].dir, 'config', 'backups')
    const files = readdirSync(dir)
    assert.equal(files.length, 1)
    const backup = JSON.parse(readFileSync(path.join(dir, files[0]), 'utf8')) as ClusterConfig
    assert.equal(backup.primary, null, 'the backup is the standalone configuration it had')
    assert.equal(backup.revision, 1)
    assert.match(backup.serviceIdentity.sftpHostKey, /OPENSSH PRIVATE KEY/, 'complete, secrets included (mode 0600)')
  })

  it('a change on the primary is served by both secondaries within 1 s', async () => {
    // Sessions opened before the change: polling them costs no logins (scrypt) while the clock runs.
    const watchers = await Promise.all([S1, S2].map(admin))
    try {
      const revision = await change(P, (c) => void (c.sync.intervalSeconds = 45))
      const t0 = Date.now()
      await pollUntil(async () => (await Promise.all(watchers.map((w) => w.exec<NodeStatus>('status', null)))).every((s) => s.revision === revision), `both secondaries at revision ${revision}`, 1000, 10)
      process.stderr.write(`propagation to 2 secondaries: ${Date.now() - t0} ms\n`)
    } finally {
      for (const w of watchers) w.close()
    }
    const [p, a, b] = await Promise.all([P, S1, S2].map(status))
    assert.equal(a.hash, p.hash)
    assert.equal(b.hash, p.hash)
  })

  it('a change sent to a secondary is refused with the primary\'s address', async () => {
    const c = await admin(S1)
    try {
      const config = await c.readJson<ClusterConfig>(PATHS.config)
      await assert.rejects(c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision})), (e: Error & {code?: string}) => e.code === 'not-primary' && e.message.includes(`make changes on the primary ${P}:14983`))
    } finally {
      c.close()
    }
    const r = await runCli(['sync', 'settings', '--interval', '20', '--primary', S1], {env})
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`primary ${P.replace(/\./g, '\\.')}:14983`))
  })

  it('a stopped secondary shows unreachable (sync check exits 3) and is in sync within 5 s of starting', async () => {
    await nodes[S2].stop()
    let revision = 0
    for (let i = 0; i < 3; i++) revision = await change(P, (c) => void (c.sync.intervalSeconds = 50 + i))
    await pollUntil(async () => {
      const doc = (await runCli(['servers', '--json'], {env})).json<ServersDocument>()
      return doc.servers.find((s) => s.host === S2)?.state === 'unreachable'
    }, 'the stopped secondary shown unreachable', 5000, 100)
    const check = await runCli(['sync', 'check', '--json'], {env})
    assert.equal(check.code, 3)
    assert.equal(check.json<{inSync: boolean}>().inSync, false)
    const t0 = Date.now()
    await nodes[S2].start()
    await pollUntil(async () => {
      const doc = (await runCli(['servers', '--json'], {env})).json<ServersDocument>()
      const s = doc.servers.find((x) => x.host === S2)
      return s?.state === 'in-sync' && s.revision === revision
    }, 'the restarted secondary in sync', 5000, 50)
    process.stderr.write(`catch-up after restart: ${Date.now() - t0} ms\n`)
    assert.equal((await status(S2)).revision, revision)
    assert.equal((await runCli(['sync', 'check'], {env})).code, 0)
  })

  it('add-server fails naming the IP filter, the primary\'s address and the rule to add', async () => {
    const c = await admin(S3)
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    config.sites.admin.ipFilter.unshift({action: 'deny', cidr: `${P}/32`})
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    c.close()
    const r = await runCli(['add-server', S3, '--json'], {env})
    assert.equal(r.code, 1)
    const e = r.json<{error: {code: string; message: string; hint: string}}>().error
    assert.equal(e.code, 'filtered')
    assert.match(e.message, /admin IP filter does not allow the primary's address 127\.0\.4\.2/)
    assert.match(e.hint, /cluster ipfilter add --allow 127\.0\.4\.2\/32 --site admin/)
  })

  it('add-server --dry-run shows what would be replaced and changes nothing', async () => {
    const c = await admin(S3)
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    config.sites.admin.ipFilter = config.sites.admin.ipFilter.filter((r) => r.cidr !== `${P}/32`)
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    c.close()
    const before = await status(S3)
    const r = await runCli(['add-server', S3, '--dry-run', '--json'], {env})
    assert.equal(r.code, 0, r.stderr)
    const result = r.json<{dryRun: boolean; changes: {path: string}[]}>()
    assert.equal(result.dryRun, true)
    assert.ok(result.changes.some((ch) => ch.path === 'clusterId'))
    const afterStatus = await status(S3)
    assert.equal(afterStatus.revision, before.revision)
    assert.equal(afterStatus.role, 'standalone')
  })

  it('after promote of a secondary, a push from the old primary is refused and the old primary demotes itself', async () => {
    const oldConfig = JSON.parse(readFileSync(path.join(nodes[P].dir, 'config', 'current.json'), 'utf8')) as ClusterConfig
    await nodes[P].stop()
    const r = await runCli(['promote', S1, '--yes', '--json'], {env})
    assert.equal(r.code, 0, r.stderr + r.stdout)
    assert.equal(r.json<{epoch: number}>().epoch, 2)
    await pollUntil(async () => (await status(S2)).epoch === 2, 'the other secondary at epoch 2', 5000, 50)
    // The old primary's cluster key pushing its (older-epoch) configuration: fenced.
    const clusterKey = readFileSync(path.join(nodes[P].dir, 'cluster_key'), 'utf8')
    const stale = await AdminClient.connect({host: S2, port: 14983, credentials: {username: 'cluster', privateKey: clusterKey}, checkHostKey: () => {}, localAddress: P})
    try {
      const next = {...oldConfig, revision: oldConfig.revision + 5}
      await assert.rejects(stale.writeFile(PATHS.config, JSON.stringify(next)), (e: Error & {code?: string}) => e.code === 'fenced' && /epoch 1 is older than (this node's epoch|epoch) 2/.test(e.message))
    } finally {
      stale.close()
    }
    // The old primary comes back, sees the higher epoch and ends up a secondary of the new primary.
    await nodes[P].start()
    const demoted = await pollUntil(async () => {
      const s = await status(P)
      return s.role === 'secondary' && s.epoch === 2 ? s : undefined
    }, 'the old primary demoted', 15_000, 100)
    assert.equal(demoted.primary?.host, S1)
    const doc = (await runCli(['servers', '--json', '--primary', S1], {env})).json<ServersDocument>()
    assert.equal(doc.epoch, 2)
    await pollUntil(async () => {
      const d = (await runCli(['servers', '--json', '--primary', S1], {env})).json<ServersDocument>()
      return d.servers.every((s) => s.state === 'in-sync')
    }, 'all in sync under the new primary', 10_000, 200)
  })
  it('remove-server makes a secondary standalone, keeping its configuration; it can be added again', async () => {
    const env1 = {...env, CLUSTER_PRIMARY: S1}
    const before = await status(S2)
    const r = await runCli(['remove-server', S2, '--yes', '--json'], {env: env1})
    assert.equal(r.code, 0, r.stderr + r.stdout)
    assert.equal(r.json<{released: boolean}>().released, true)
    const after = await status(S2)
    assert.equal(after.role, 'standalone')
    assert.equal(after.clusterId, before.clusterId, 'keeps its configuration')
    const doc = (await runCli(['servers', '--json'], {env: env1})).json<ServersDocument>()
    assert.deepEqual(doc.servers.map((s) => s.host).sort(), [P, S1].sort())
    const again = await runCli(['add-server', S2, '--json'], {env: env1})
    assert.equal(again.code, 0, again.stderr + again.stdout)
    assert.equal((await status(S2)).role, 'secondary')
    const unknown = await runCli(['remove-server', '127.0.4.99', '--yes'], {env: env1})
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /not a registered server/)
  })
})
