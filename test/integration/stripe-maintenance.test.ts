// The striped cluster's management and upkeep with real processes on 127.0.75.x: `cluster stripe enable |
// add-node | status | rescan` through the CLI, `--replicas 2` with kill -9 of a storage node (no file lost,
// re-replication back to 2 live copies, remerge of its return), verify. curl is the FTP client. The gateway's
// kill -9 after 1,000 STORs is stripe-gateway-kill.test.ts (its own time budget).
import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {hashPassword} from '../../src/config/password.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus, type StripeStatus} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {killAll, run} from '../helpers/ftp-fixture.js'
import {ADMIN_PASSWORD, createNode, pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'
import {piecesUnder} from '../helpers/stripe-cluster.js'
import {needs} from '../helpers/tools.js'

const G = '127.0.75.2'
const NODES = ['127.0.75.3', '127.0.75.4', '127.0.75.5']
const USER = 'carol'
const PASSWORD = 'stripes-and-more'
const GiB = 1024 ** 3
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function admin<T>(host: string, fn: (c: AdminClient) => Promise<T>): Promise<T> {
  const c = await AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
  try {
    return await fn(c)
  } finally {
    c.close()
  }
}

const skip = needs('curl')

describe('stripe maintenance (gateway + 3 storage nodes, replicas 2)', {skip}, () => {
  const root = tempDir('ftpcluster-stripe-maint-')
  const local = path.join(root, 'local')
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: G}
  let gateway: TestNode
  const nodes: TestNode[] = []
  const files = new Map<string, string>()
  const url = (p = '/') => `ftp://${USER}:${PASSWORD}@${G}:2100${p}`
  const cli = async (args: string[]) => {
    const r = await runCli(args, {env, timeoutMs: 60_000})
    assert.equal(r.code, 0, `cluster ${args.join(' ')}: ${r.stderr}${r.stdout}`)
    return r
  }
  const status = async (): Promise<StripeStatus> => JSON.parse((await cli(['stripe', 'status', '--json'])).stdout) as StripeStatus
  const stripeUp = () => pollUntil(async () => (await admin(G, (c) => c.exec<NodeStatus>('status', null))).services.stripe === 'up', 'the gateway to link every storage node', 30_000, 100)
  const download = async (name: string) => {
    const out = path.join(local, `dl-${name}`)
    const r = await run('curl', ['-sS', '--fail', '-o', out, url(`/${name}`)])
    assert.equal(r.code, 0, `download ${name}: ${r.stderr}`)
    return sha(readFileSync(out))
  }

  before(async () => {
    mkdirSync(local, {recursive: true})
    gateway = await createNode(root, G, ['--pasv-ports', '52600-52649'])
    for (const [i, ip] of NODES.entries()) nodes.push(await createNode(root, ip, ['--pasv-ports', `${52650 + i * 50}-${52699 + i * 50}`]))
    await Promise.all([gateway, ...nodes].map((n) => n.start()))
    for (const ip of NODES) await cli(['add-server', ip, '--json'])
    const passwordHash = await hashPassword(PASSWORD)
    await admin(G, async (c) => {
      const config = await c.readJson<ClusterConfig>(PATHS.config)
      config.users.push({name: USER, passwordHash, publicKeys: [], home: '/', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
      config.defender.failDelayMs = 20
      config.stripe.freeSpaceFloorBytes = 0
      config.stripe.reReplicateAfterSeconds = 3
      await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    })
  })

  after(async () => {
    killAll()
    await Promise.all([gateway, ...nodes].map((n) => n?.stop()))
  })

  it('stripe add-node and enable through the CLI; status capacity is the sum of the nodes\', --json exactly as specified', async () => {
    for (const ip of NODES) await cli(['stripe', 'add-node', ip, '--capacity', '1G', '--json'])
    const again = JSON.parse((await cli(['stripe', 'add-node', NODES[0], '--capacity', '1G', '--json'])).stdout) as {added: boolean}
    assert.equal(again.added, false, 'a re-run is idempotent')
    const enabled = JSON.parse((await cli(['stripe', 'enable', G, '--replicas', '2', '--json'])).stdout) as {gateway: string; replicas: number}
    assert.deepEqual([enabled.gateway, enabled.replicas], [`${G}:2100`, 2])
    await stripeUp()
    const s = await status()
    assert.deepEqual(Object.keys(s).sort(), ['gateway', 'nodes', 'replicas', 'totals', 'underReplicated'])
    assert.deepEqual(Object.keys(s.nodes[0]).sort(), ['capacityBytes', 'files', 'freeBytes', 'host', 'port', 'state', 'usedBytes'])
    assert.deepEqual(Object.keys(s.totals).sort(), ['capacityBytes', 'files', 'freeBytes', 'usedBytes'])
    assert.equal(s.gateway, `${G}:2100`)
    assert.deepEqual(s.nodes.map((n) => [n.host, n.state]), NODES.map((ip) => [ip, 'up']))
    for (const n of s.nodes) assert.ok(n.capacityBytes > 0 && n.capacityBytes <= GiB, `capacity = min(cap, free + used): ${n.capacityBytes}`)
    assert.equal(s.totals.capacityBytes, s.nodes.reduce((a, n) => a + n.capacityBytes, 0))
    assert.equal(s.underReplicated, 0)
    const table = await cli(['stripe', 'status'])
    assert.match(table.stdout, /CAPACITY/)
    assert.match(table.stdout, /total \(up\)/)
  })

  it('60 uploads with replicas 2 survive kill -9 of a storage node; re-replication restores 2 live copies; its return is remerged', async () => {
    for (let i = 0; i < 60; i++) {
      const name = `f${String(i).padStart(2, '0')}.bin`
      const data = randomBytes(1000 + i * 97)
      writeFileSync(path.join(local, name), data)
      files.set(name, sha(data))
    }
    const names = [...files.keys()]
    const up = await run('curl', ['-sS', '--fail', '--ftp-create-dirs', ...names.flatMap((n) => ['-T', path.join(local, n), url(`/${n}`)])])
    assert.equal(up.code, 0, up.stderr)
    let s = await status()
    assert.equal(s.totals.files, 60)
    assert.equal(s.nodes.reduce((a, n) => a + n.files, 0), 120, 'two copies of each')
    const victim = nodes[1]
    victim.kill()
    for (const n of names) assert.equal(await download(n), files.get(n), `${n} intact with ${victim.bind} down`)
    s = await pollUntil(async () => {
      const x = await status()
      return x.underReplicated === 0 && x.nodes[1].state === 'down' ? x : undefined
    }, 're-replication to restore two live copies', 60_000, 500)
    const live = s.nodes.filter((n) => n.state === 'up')
    assert.equal(live.reduce((a, n) => a + n.files, 0), 120, 'every file has two live copies again')
    const victimData = path.join(victim.dir, 'files', '.stripe', 'data')
    assert.ok(piecesUnder(victimData) > 0, 'the dead node still holds its old copies on disk')
    await victim.start()
    await pollUntil(async () => ((await status()).nodes[1].state === 'up' && piecesUnder(victimData) === 0 ? true : undefined), 'remerge to drop the returning node\'s surplus copies', 60_000, 500)
    s = await status()
    assert.deepEqual([s.underReplicated, s.totals.files, s.nodes[1].files], [0, 60, 0])
    for (const n of names.slice(0, 10)) assert.equal(await download(n), files.get(n))
  })

  it('stripe rescan rebuilds the same catalogue from the nodes', async () => {
    const r = JSON.parse((await cli(['stripe', 'rescan', '--json'])).stdout) as {files: number; nodes: string[]; skippedNodes: string[]}
    assert.deepEqual([r.files, r.nodes.length, r.skippedNodes.length], [60, 3, 0])
    const s = await status()
    assert.deepEqual([s.totals.files, s.underReplicated], [60, 0])
  })

  it('stripe verify passes on intact copies and exits 3 naming a corrupted one', async () => {
    const ok = JSON.parse((await cli(['stripe', 'verify', '--json'])).stdout) as {files: number; copiesChecked: number; mismatches: unknown[]}
    assert.deepEqual([ok.files, ok.copiesChecked, ok.mismatches.length], [60, 120, 0])
    const holder = nodes.find((n) => existsSync(path.join(n.dir, 'files', '.stripe', 'data', 'f07.bin')))!
    const piece = path.join(holder.dir, 'files', '.stripe', 'data', 'f07.bin')
    const original = readFileSync(piece)
    const bad = Buffer.from(original)
    bad[0] ^= 0xff // same size, different content: only a re-hash can tell
    writeFileSync(piece, bad)
    try {
      const r = await runCli(['stripe', 'verify', '--json'], {env, timeoutMs: 60_000})
      assert.equal(r.code, 3, r.stderr)
      const report = JSON.parse(r.stdout) as {mismatches: {path: string; host: string}[]}
      assert.deepEqual(report.mismatches.map((m) => [m.path, m.host]), [['/f07.bin', holder.bind]])
    } finally {
      writeFileSync(piece, original)
    }
  })
})
