// `cluster stripe remove-node` with real processes on 127.0.111.x (a gateway and 3 storage nodes, replicas 2),
// curl as the FTP client: refused up front when the other nodes cannot hold the files (nothing changes);
// a live node drained (every file keeps 2 copies on the others, all downloads byte-identical, its pieces
// gone, a re-run a no-op); a third removal refused (fewer nodes than replicas); the drained node taken back
// with add-node, then another node killed with kill -9 and removed with --force: 2 copies restored.
import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {StripeRemoveNodeResult, StripeStatus} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {killAll, run} from '../helpers/ftp-fixture.js'
import {pollUntil, tempDir} from '../helpers/node-process.js'
import {adminExec, pieceCount, startStripeCluster, type StripeCluster} from '../helpers/stripe-cluster.js'
import {needs} from '../helpers/tools.js'

const G = '127.0.111.2'
const NODES = ['127.0.111.3', '127.0.111.4', '127.0.111.5']
const FILES = 24
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('stripe remove-node (gateway + 3 storage nodes, replicas 2)', {skip: needs('curl')}, () => {
  const root = tempDir('ftpcluster-stripe-remove-')
  const local = path.join(root, 'local')
  let cluster: StripeCluster
  const files = new Map<string, string>()
  const cli = (args: string[]) => runCli(args, {env: cluster.env, timeoutMs: 90_000})
  const gatewayExec = <T>(command: string, args: object | null = null) => adminExec<T>(G, command, args)
  // the gateway's own answer (what `stripe status --json` prints), without a CLI process per poll
  const status = () => gatewayExec<StripeStatus>('stripe-status')
  /** Downloads every file in one curl run and compares each with what was uploaded. */
  const downloadAll = async (what: string) => {
    const names = [...files.keys()]
    const r = await run('curl', ['-sS', '--fail', ...names.flatMap((n) => ['-o', path.join(local, `dl-${n}`), cluster.url(`/${n}`)])])
    assert.equal(r.code, 0, `${what}: ${r.stderr}`)
    for (const n of names) assert.equal(sha(readFileSync(path.join(local, `dl-${n}`))), files.get(n), `${n} byte-identical ${what}`)
  }

  before(async () => {
    mkdirSync(local, {recursive: true})
    cluster = await startStripeCluster(root, G, NODES, {replicas: 2, pasv: (_ip, i) => ({min: 53100 + i * 50, max: 53149 + i * 50})})
    for (let i = 0; i < FILES; i++) {
      const name = `r${String(i).padStart(2, '0')}.bin`
      const data = randomBytes(2000 + i * 613)
      writeFileSync(path.join(local, name), data)
      files.set(name, sha(data))
    }
    const names = [...files.keys()]
    const up = await run('curl', ['-sS', '--fail', '--ftp-create-dirs', ...names.flatMap((n) => ['-T', path.join(local, n), cluster.url(`/${n}`)])])
    assert.equal(up.code, 0, up.stderr)
  })

  after(async () => {
    killAll()
    await cluster?.stop()
  })

  it('refuses up front when the other nodes cannot hold the files, and changes nothing', async () => {
    const [a, b] = NODES
    await cluster.change((c) => c.stripe.nodes.forEach((n) => n.host !== NODES[2] && (n.capacityBytes = 1000)))
    try {
      await pollUntil(async () => (await status()).nodes.filter((n) => n.host === a || n.host === b).every((n) => n.capacityBytes <= 1000), 'the smaller capacities to reach the gateway', 20_000, 200)
      const r = await cli(['stripe', 'remove-node', NODES[2], '--yes'])
      assert.equal(r.code, 1, `${r.stdout}${r.stderr}`)
      assert.match(r.stderr, /cannot hold the files of 127\.0\.111\.5:14983/)
      assert.match(r.stderr, /do not fit/)
      assert.match(r.stderr, /add-node/, 'the message says what to do')
      const s = await status()
      assert.deepEqual(s.nodes.map((n) => [n.host, n.state]), NODES.map((ip) => [ip, 'up']), 'not marked draining')
      assert.equal(s.nodes[2].files, pieceCount(cluster.nodes[2]), 'its copies are where they were')
    } finally {
      await cluster.change((c) => c.stripe.nodes.forEach((n) => (n.capacityBytes = 1024 ** 3)))
    }
    await pollUntil(async () => (await status()).nodes.every((n) => n.capacityBytes > 1000), 'the capacities to be restored', 20_000, 200)
  })

  it('drains a live node: 2 copies of every file on the others, downloads byte-identical, its pieces dropped', async () => {
    const leaving = cluster.nodes[2]
    const held = (await status()).nodes[2].files
    assert.ok(held >= 10, `the leaving node holds files (${held})`)
    // 64 KiB/s per node: the drain takes a few seconds, long enough to see the node draining
    await cluster.change((c) => (c.stripe.nodeBandwidthLimit = 64 * 1024))
    await gatewayExec('sync', {})
    const running = cli(['stripe', 'remove-node', NODES[2], '--yes', '--json'])
    let finished = false
    void running.then(() => (finished = true))
    const seen = await pollUntil(async () => (finished ? 'finished' : (await status()).nodes.find((n) => n.host === NODES[2])?.state === 'draining' && 'draining'), 'stripe status to show the node draining', 60_000, 50)
    const r = await running
    await cluster.change((c) => (c.stripe.nodeBandwidthLimit = null))
    await gatewayExec('sync', {})
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`)
    assert.equal(seen, 'draining', 'status showed state "draining" while the files moved')
    const out = r.json<StripeRemoveNodeResult>()
    assert.equal(out.removed, true)
    assert.equal(out.drain!.files, held)
    assert.equal(out.drain!.copies, held, 'each of its files needed one more copy elsewhere')
    assert.deepEqual([out.drain!.dropped, out.drain!.lostCount, out.drain!.complete], [held, 0, true])
    assert.match(r.stderr, /copies made/, 'progress on stderr')
    const s = await status()
    assert.deepEqual(s.nodes.map((n) => n.host), NODES.slice(0, 2), 'it left the configuration')
    assert.deepEqual([s.underReplicated, s.totals.files], [0, FILES])
    assert.deepEqual(s.nodes.map((n) => n.files), [FILES, FILES], 'two copies of each file on the two nodes left')
    assert.equal(pieceCount(leaving), 0, 'its pieces are gone from its disk')
    await downloadAll('after remove-node')
    const again = await cli(['stripe', 'remove-node', NODES[2], '--yes'])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /not a storage node of the striped cluster: nothing to do/)
  })

  it('refuses to leave fewer storage nodes than replicas', async () => {
    const r = await cli(['stripe', 'remove-node', NODES[1], '--yes'])
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /would leave 1 active storage node\(s\), fewer than the 2 copies/)
    assert.deepEqual((await status()).nodes.map((n) => n.state), ['up', 'up'])
  })

  it('--force of a kill -9\'d node re-replicates from the surviving copies back to 2 live copies', async () => {
    // taken back as an empty storage node (`stripe add-node` itself is tested in stripe-maintenance)
    const id = (await cluster.status(NODES[2])).nodeId
    await cluster.change((c) => void c.stripe.nodes.push({nodeId: id, host: NODES[2], port: 14983, capacityBytes: 1024 ** 3, state: 'active'}))
    await cluster.ready(30_000)
    const victim = cluster.nodes[1]
    victim.kill()
    await pollUntil(async () => (await status()).nodes[1].state === 'down', 'the gateway to see the node down', 20_000, 200)
    const plain = await cli(['stripe', 'remove-node', NODES[1], '--yes'])
    assert.equal(plain.code, 1, 'a dead node needs --force')
    assert.match(plain.stderr, /is down.*--force/s)
    const r = await cli(['stripe', 'remove-node', NODES[1], '--force', '--yes', '--json'])
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`)
    const out = r.json<StripeRemoveNodeResult>()
    assert.deepEqual([out.removed, out.drain!.files, out.drain!.copies, out.drain!.lostCount, out.drain!.dropped], [true, FILES, FILES, 0, 0])
    const s = await status()
    assert.deepEqual(s.nodes.map((n) => [n.host, n.state]), [[NODES[0], 'up'], [NODES[2], 'up']])
    assert.deepEqual([s.underReplicated, ...s.nodes.map((n) => n.files)], [0, FILES, FILES], '2 live copies of every file again')
    await downloadAll('after remove-node --force')
  })

  it('--force names a file whose only copy was on the dead node as LOST (exit 1); the others stay intact', async () => {
    // the member killed above comes back (no longer a storage node), so a majority of 4 members remains
    // to commit configuration changes once the next one dies
    await cluster.nodes[1].start()
    await cluster.change((c) => (c.stripe.replicas = 1))
    await gatewayExec('sync', {})
    const before = (await status()).nodes.map((n) => n.files)
    const lone = path.join(local, 'lone.bin')
    writeFileSync(lone, randomBytes(5000))
    const up = await run('curl', ['-sS', '--fail', '-T', lone, cluster.url('/lone.bin')])
    assert.equal(up.code, 0, up.stderr)
    const after = (await status()).nodes
    const holder = after.findIndex((n, i) => n.files === before[i] + 1)
    assert.ok(holder >= 0, 'one node took the single copy')
    const host = after[holder].host
    cluster.nodes[NODES.indexOf(host)].kill()
    await pollUntil(async () => (await status()).nodes[holder].state === 'down', 'the gateway to see the holder down', 20_000, 200)
    const r = await cli(['stripe', 'remove-node', host, '--force', '--yes'])
    assert.equal(r.code, 1, `${r.stdout}${r.stderr}`)
    assert.match(r.stderr, /1 file\(s\) had no copy on any other node and are LOST: \/alice\/lone\.bin/)
    assert.match(r.stderr, /stripe add-node/, 'the hint says how a recovered disk comes back')
    const s = await status()
    assert.deepEqual(s.nodes.map((n) => n.host), NODES.filter((x) => x !== host && x !== NODES[1]), 'the dead node left the configuration')
    const get = await run('curl', ['-sS', '--fail', '-o', path.join(local, 'lone-back.bin'), cluster.url('/lone.bin')])
    assert.notEqual(get.code, 0, 'the lost file cannot be read')
    assert.match(get.stderr, /450/)
    await downloadAll('after a --force that lost one file')
  })
})
