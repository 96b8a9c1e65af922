// `cluster stripe rebalance` with real processes on 127.0.112.x: a gateway and 3 storage nodes holding 30
// files with 2 copies each, then a 4th empty node added with `stripe add-node`. The rebalance is slowed by the
// per-node bandwidth cap and the gateway is killed with kill -9 mid-way: every file stays readable, the
// surplus copy the interrupted move left is dropped by remerge, and a re-run completes with 15 copies on each
// node, none twice on one node, all downloads byte-identical. curl is the FTP client.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {StripeRebalanceResult, StripeStatus, StripeVerifyResult} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {killAll, run} from '../helpers/ftp-fixture.js'
import {createNode, pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'
import {CLI} from '../helpers/paths.js'
import {adminExec, pieceCount, startStripeCluster, type StripeCluster} from '../helpers/stripe-cluster.js'
import {needs} from '../helpers/tools.js'

const G = '127.0.112.2'
const NODES = ['127.0.112.3', '127.0.112.4', '127.0.112.5']
const FOURTH = '127.0.112.6'
const FILES = 30
const SIZE = 128 * 1024
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

const gatewayExec = <T>(command: string, args: object | null = null) => adminExec<T>(G, command, args)

describe('stripe rebalance (3 storage nodes + an empty 4th, replicas 2)', {skip: needs('curl')}, () => {
  const root = tempDir('ftpcluster-stripe-rebalance-')
  const local = path.join(root, 'local')
  let cluster: StripeCluster
  let fourth: TestNode
  const files = new Map<string, string>()
  const cli = (args: string[]) => runCli(args, {env: cluster.env, timeoutMs: 90_000})
  const status = () => gatewayExec<StripeStatus>('stripe-status')
  const all = () => [...cluster.nodes, fourth]
  /** Sets the per-node bandwidth cap and waits until every node holds it. */
  const cap = async (bytesPerSecond: number | null) => {
    await cluster.change((c) => (c.stripe.nodeBandwidthLimit = bytesPerSecond))
    await gatewayExec('sync', {})
  }
  const downloadAll = async (what: string) => {
    const names = [...files.keys()]
    const r = await run('curl', ['-sS', '--fail', ...names.flatMap((n) => ['-o', path.join(local, `dl-${n}`), cluster.url(`/${n}`)])])
    assert.equal(r.code, 0, `${what}: ${r.stderr}`)
    for (const n of names) assert.equal(sha(readFileSync(path.join(local, `dl-${n}`))), files.get(n), `${n} byte-identical ${what}`)
  }

  before(async () => {
    mkdirSync(local, {recursive: true})
    cluster = await startStripeCluster(root, G, NODES, {replicas: 2, pasv: (_ip, i) => ({min: 53300 + i * 50, max: 53349 + i * 50})})
    fourth = await createNode(root, FOURTH, ['--pasv-ports', '53500-53549'])
    await fourth.start()
    const added = await cli(['add-server', FOURTH])
    assert.equal(added.code, 0, added.stderr)
    for (let i = 0; i < FILES; i++) {
      const name = `b${String(i).padStart(2, '0')}.bin`
      const data = randomBytes(SIZE)
      writeFileSync(path.join(local, name), data)
      files.set(name, sha(data))
    }
    const up = await run('curl', ['-sS', '--fail', '--ftp-create-dirs', ...[...files.keys()].flatMap((n) => ['-T', path.join(local, n), cluster.url(`/${n}`)])])
    assert.equal(up.code, 0, up.stderr)
  })

  after(async () => {
    killAll()
    await Promise.all([cluster?.stop(), fourth?.stop()])
  })

  it('a kill -9 of the gateway mid-way leaves every file readable, and a re-run evens the nodes out', async () => {
    const add = await cli(['stripe', 'add-node', FOURTH, '--capacity', '1G'])
    assert.equal(add.code, 0, add.stderr)
    await cluster.ready(30_000)
    let s = await status()
    assert.deepEqual(s.nodes.map((n) => n.files), [20, 20, 20, 0], 'the new node starts empty')
    // 256 KiB/s per node: one 128 KiB move takes about half a second, so the kill lands mid-way
    await cap(256 * 1024)
    const child = spawn(process.execPath, [CLI, 'stripe', 'rebalance'], {env: {...process.env, ...cluster.env, NO_COLOR: '1', CI: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
    let err = ''
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    try {
      await pollUntil(() => /rebalance: 3 files moved/.test(err), 'the rebalance to move 3 files', 60_000, 20)
      cluster.gateway.kill()
      assert.notEqual(await exited, 0, 'the interrupted run does not report success')
    } finally {
      child.kill('SIGKILL')
    }
    await cluster.gateway.start()
    await cluster.ready(30_000)
    await cap(null)
    await downloadAll('after the gateway was killed mid-rebalance')
    // the move in flight may have left a copy the catalogue does not name: remerge drops it
    await pollUntil(() => all().reduce((a, n) => a + pieceCount(n), 0) === 2 * FILES, 'remerge to drop surplus copies', 30_000, 200)
    s = await status()
    assert.ok(s.nodes[3].files >= 3, `the first run's moves stayed done (${s.nodes[3].files} on the 4th node)`)
    const r = await cli(['stripe', 'rebalance', '--json'])
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`)
    const result = r.json<StripeRebalanceResult>()
    assert.equal(result.failed, 0)
    assert.ok(result.spreadAfter < result.spreadBefore, `spread ${result.spreadBefore} → ${result.spreadAfter}`)
    s = await status()
    assert.deepEqual(s.nodes.map((n) => n.files), [15, 15, 15, 15], 'used/capacity evened out')
    assert.deepEqual([s.underReplicated, s.totals.files], [0, FILES])
    assert.equal(all().reduce((a, n) => a + pieceCount(n), 0), 2 * FILES, 'every old copy was dropped')
    // 2 distinct live copies of every file, each matching the catalogue's SHA-256 (a copy twice on one node
    // would count once)
    const v = await gatewayExec<StripeVerifyResult>('stripe-verify')
    assert.deepEqual([v.files, v.copiesChecked, v.mismatches.length], [FILES, 2 * FILES, 0])
    await downloadAll('after the rebalance')
    const again = await cli(['stripe', 'rebalance', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.json<StripeRebalanceResult>().moved, 0, 'a balanced stripe has nothing to move')
  })
})
