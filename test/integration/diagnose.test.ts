// `cluster diagnose` and `cluster health` against real nodes: a primary with two registered secondaries
// (127.0.8.2, .3, .4) and a standalone node whose admin IP filter denies the CLI's address 127.0.8.9 (.5).
// Addresses: 127.0.8.0/24 only.
import assert from 'node:assert/strict'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {ClusterConfig} from '../../src/config/schema.js'
import type {ClusterHealth} from '../../src/cli/node-health.js'
import type {DiagnoseReport} from '../../src/commands/diagnose.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {CHECK_ORDER} from '../../src/protocol/diagnose.js'
import {PATHS} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {ADMIN_PASSWORD, createNode, tempDir, type TestNode} from '../helpers/node-process.js'

const [P, S1, S2, FILTERED, CLI_ADDRESS] = ['127.0.8.2', '127.0.8.3', '127.0.8.4', '127.0.8.5', '127.0.8.9']

async function denyOnAdminSite(host: string, cidr: string): Promise<void> {
  const c = await AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
  try {
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    config.sites.admin.ipFilter.unshift({action: 'deny', cidr})
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
  } finally {
    c.close()
  }
}

const failed = (r: DiagnoseReport) => r.checks.filter((c) => !c.ok).map((c) => c.name)

describe('cluster diagnose and cluster health (integration)', () => {
  const root = tempDir()
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: P}
  const nodes: Record<string, TestNode> = {}

  before(async () => {
    for (const ip of [P, S1, S2, FILTERED]) nodes[ip] = await createNode(root, ip)
    await Promise.all(Object.values(nodes).map((n) => n.start()))
    for (const ip of [S1, S2]) {
      const r = await runCli(['add-server', ip, '--json'], {env})
      assert.equal(r.code, 0, r.stderr + r.stdout)
    }
    await denyOnAdminSite(FILTERED, `${CLI_ADDRESS}/32`)
  })
  after(async () => {
    await Promise.all(Object.values(nodes).map((n) => n.stop()))
  })

  it('diagnose of a healthy node: every check passes, exit 0', async () => {
    const r = await runCli(['diagnose', S1, '--json'], {env})
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const report = r.json<DiagnoseReport>()
    assert.equal(report.target, `${S1}:14983`)
    assert.equal(report.from, 'local')
    assert.equal(report.ok, true)
    assert.deepEqual(report.checks.map((c) => c.name), [...CHECK_ORDER])
    assert.deepEqual(failed(report), [])
    assert.match(report.checks.find((c) => c.name === 'ssh-banner')!.detail, /^SSH-2\.0-/)
  })

  it('diagnose for people: a ✔ line per check and a summary', async () => {
    const r = await runCli(['diagnose', S1], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.match(/^✔ /gm)?.length, CHECK_ORDER.length, r.stdout)
    assert.match(r.stdout, new RegExp(`All ${CHECK_ORDER.length} checks passed`))
    assert.match(r.stdout, /ftp-pasv    passive ports 50000-50099 on 127\.0\.8\.3 are reachable/)
  })

  it('diagnose --from-primary of a registered secondary runs the probe on the primary, exit 0', async () => {
    const r = await runCli(['diagnose', S1, '--from-primary', '--json'], {env})
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const report = r.json<DiagnoseReport>()
    assert.equal(report.from, 'primary')
    assert.deepEqual(failed(report), [])
    assert.match(report.checks.find((c) => c.name === 'tcp')!.detail, new RegExp(`from ${P.replace(/\./g, '\\.')} `), 'connected from the primary\'s address')
    assert.match(report.checks.find((c) => c.name === 'host-key')!.detail, /matches the expected key/, 'compared with the registered fingerprint')
    assert.match(report.checks.find((c) => c.name === 'auth')!.detail, /"cluster" with a key/)
  })

  it('diagnose of a node whose admin IP filter denies the CLI\'s address: ip-filter fails with the exact rule, exit 3', async () => {
    const r = await runCli(['diagnose', FILTERED, '--json'], {env: {...env, CLUSTER_LOCAL_ADDRESS: CLI_ADDRESS}})
    assert.equal(r.code, 3, r.stdout + r.stderr)
    const report = r.json<DiagnoseReport>()
    const filter = report.checks.find((c) => c.name === 'ip-filter')!
    assert.equal(filter.ok, false)
    assert.match(filter.detail, /^closed before the SSH banner: the admin IP filter of \S+ does not allow 127\.0\.8\.9/)
    assert.match(filter.hint!, /`cluster ipfilter add --allow 127\.0\.8\.9\/32 --site admin`/)
    assert.deepEqual(report.checks.slice(0, 2).map((c) => c.ok), [true, true])
    assert.ok(report.checks.slice(4).every((c) => c.detail.startsWith('skipped:')))
  })

  it('health with every node up: all healthy, exit 0', async () => {
    const r = await runCli(['health', '--json'], {env})
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const h = r.json<ClusterHealth>()
    assert.equal(h.healthy, true)
    assert.deepEqual(h.nodes.map((n) => [n.host, n.role, n.healthy]), [[P, 'primary', true], [S1, 'secondary', true], [S2, 'secondary', true]])
    assert.ok(h.nodes.every((n) => n.error === null && n.revision === h.nodes[0].revision && n.services.admin === 'up'), JSON.stringify(h))
  })

  describe('with a secondary stopped', () => {
    before(() => nodes[S2].stop())

    it('health: that node is unhealthy with an error, exit 3', async () => {
      const r = await runCli(['health', '--json'], {env})
      assert.equal(r.code, 3, r.stdout + r.stderr)
      const h = r.json<ClusterHealth>()
      assert.equal(h.healthy, false)
      const down = h.nodes.find((n) => n.host === S2)!
      assert.equal(down.healthy, false)
      assert.match(down.error!, /nothing is listening on 127\.0\.8\.4:14980/)
      assert.ok(h.nodes.filter((n) => n.host !== S2).every((n) => n.healthy))
      const human = await runCli(['health'], {env})
      assert.equal(human.code, 3)
      assert.match(human.stdout, /1 of 3 nodes not healthy/)
    })

    it('diagnose: the tcp check fails naming the port and `cluster node start`, exit 3', async () => {
      for (const extra of [[], ['--from-primary']]) {
        const r = await runCli(['diagnose', S2, '--json', ...extra], {env})
        assert.equal(r.code, 3, r.stdout + r.stderr)
        const tcp = r.json<DiagnoseReport>().checks.find((c) => c.name === 'tcp')!
        assert.equal(tcp.ok, false)
        assert.match(tcp.detail, /nothing is listening on 127\.0\.8\.4:14983: connection refused/)
        assert.match(tcp.hint!, /cluster node start/)
        assert.match(tcp.hint!, /14983/)
      }
    })

    it('health when the primary itself is down: exit 1 naming the primary', async () => {
      const r = await runCli(['health', '--primary', S2], {env})
      assert.equal(r.code, 1, r.stdout + r.stderr)
      assert.match(r.stderr, /cannot read the list of nodes from the primary: nothing is listening on 127\.0\.8\.4:14983/)
      assert.match(r.stderr, /cluster diagnose 127\.0\.8\.4:14983/)
    })
  })
})
