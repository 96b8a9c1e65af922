// Failover on real node processes built with the CLI: a kill during add-server, SIGTERM in every role, nothing vanishes under the primary policy (reproductions 5 and 6 of #8).
// Addresses: 127.0.60.0/24 only.
import assert from 'node:assert/strict'
import {after, describe, it} from 'node:test'
import {spawn} from 'node:child_process'
import type {ServersDocument} from '../../src/protocol/index.js'
import {buildCluster, jsonError, statusOf, stopTimed, type TestCluster} from '../helpers/cluster.js'
import {pollUntil, tempDir} from '../helpers/node-process.js'
import {CLI} from '../helpers/paths.js'

const N = '127.0.60.'

describe('failover: a kill during add-server is explained (5)', () => {
  const ips = [`${N}40`, `${N}41`]
  const [P, S1] = ips
  const NEW = `${N}42`
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('the CLI exits 1 naming the lost connection; servers/node status/diagnose explain the state; add-server again fixes it', async () => {
    const root = tempDir()
    cl = await buildCluster(root, ips)
    const {createNode} = await import('../helpers/node-process.js')
    cl.nodes[NEW] = await createNode(root, NEW)
    await cl.nodes[NEW].start()
    const child = spawn(process.execPath, [CLI, 'add-server', NEW], {env: {...process.env, ...cl.env, NO_COLOR: '1', CI: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    // The new node is stopped as the backup step is announced, so the primary cannot finish the add-server
    // (the join's answer and the verification both need it) before the kill lands, however slow the machine.
    const newPid = cl.nodes[NEW].process!.pid!
    let paused = false
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (!paused && /backing up/.test(stderr)) {
        paused = true
        process.kill(newPid, 'SIGSTOP')
      }
      if (/overwriting/.test(stderr)) cl.nodes[P].kill()
    })
    let code: number | null
    try {
      code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
    } finally {
      if (paused) process.kill(newPid, 'SIGCONT')
    }
    assert.equal(code, 1, stderr)
    assert.match(stderr, /closed the connection during `add-server`.*check its log/)
    await cl.nodes[P].start()
    const listed = (await cl.cli(['servers', '--json'])).json<ServersDocument>().servers.some((s) => s.host === NEW)
    const s = await pollUntil(async () => {
      const x = await statusOf(NEW)
      return listed || x.role !== 'secondary' || x.problems?.some((p) => p.kind === 'not-listed') ? x : undefined
    }, 'the new node explains its state', 45_000, 100).catch((error: Error) => { // its pulls back off up to 30 s while the primary is down
      throw new Error(`${error.message}\nthe new node's log:\n${cl.nodes[NEW].log.split('\n').filter((l) => !/\] session user=/.test(l)).join('\n').slice(-6000)}\nthe primary's log:\n${cl.nodes[P].log.split('\n').filter((l) => !/\] session user=/.test(l)).join('\n').slice(-4000)}`)
    })
    if (!listed && s.role === 'secondary') {
      const problem = s.problems!.find((p) => p.kind === 'not-listed')!
      assert.match(problem.message, /does not list it/)
      assert.match(problem.hint, /cluster add-server/)
      const d = await cl.cli(['diagnose', NEW, '--json'])
      assert.equal(d.code, 3, d.stdout)
      assert.match(d.stdout, /does not list it/)
    }
    const again = await cl.cli(['add-server', NEW, '--json'])
    assert.equal(again.code, 0, again.stderr + again.stdout)
    assert.ok((await cl.cli(['servers', '--json'])).json<ServersDocument>().servers.some((x) => x.host === NEW && x.state === 'in-sync'))
    assert.deepEqual((await statusOf(NEW)).problems, [])
  })
})

describe('failover: every node stops within 5 s of SIGTERM (6)', () => {
  const ips = [`${N}50`, `${N}51`, `${N}52`]
  const [A, B, C] = ips
  const LONE = `${N}53`
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('standalone', async () => {
    const root = tempDir()
    const {createNode} = await import('../helpers/node-process.js')
    const n = await createNode(root, LONE)
    await n.start()
    const ms = await stopTimed(n)
    process.stderr.write(`standalone stopped in ${ms} ms\n`)
    assert.ok(ms < 5000, `${ms} ms`)
  })

  it('a secondary whose primary is unreachable, and a primary whose secondaries are unreachable', async () => {
    cl = await buildCluster(tempDir(), ips)
    await cl.nodes[A].stop()
    const secondary = await stopTimed(cl.nodes[C])
    process.stderr.write(`secondary (primary down) stopped in ${secondary} ms\n`)
    assert.ok(secondary < 5000, `${secondary} ms`)
    await cl.nodes[B].stop()
    await cl.nodes[A].start()
    const primary = await stopTimed(cl.nodes[A])
    process.stderr.write(`primary (secondaries down) stopped in ${primary} ms\n`)
    assert.ok(primary < 5000, `${primary} ms`)
  })

  it('a new primary after promote, with the old primary down, and an old primary fenced by the new epoch', async () => {
    await Promise.all([cl.nodes[B].start(), cl.nodes[C].start()])
    const r = await cl.cli(['promote', B, '--yes'])
    assert.equal(r.code, 0, r.stderr)
    await pollUntil(async () => (await statusOf(C)).epoch === 2, 'C at epoch 2', 10_000, 50)
    const promoted = await stopTimed(cl.nodes[B])
    process.stderr.write(`new primary (old one down) stopped in ${promoted} ms\n`)
    assert.ok(promoted < 5000, `${promoted} ms`)
    await cl.nodes[A].start()
    await pollUntil(async () => (await cl.cli(['servers', '--json', '--primary', A])).json<ServersDocument>().servers[0]?.state === 'refused', 'A fenced', 10_000, 100)
    const fenced = await stopTimed(cl.nodes[A])
    process.stderr.write(`fenced old primary stopped in ${fenced} ms\n`)
    assert.ok(fenced < 5000, `${fenced} ms`)
  })
})

describe('failover: nothing vanishes under the primary policy (2 members)', () => {
  const ips = [`${N}60`, `${N}61`]
  const [A, B] = ips
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('a change only the old primary had is acknowledged with a warning, discarded by a forced promote, listed and re-applied', async () => {
    cl = await buildCluster(tempDir(), ips)
    await cl.nodes[B].stop()
    const lone = await cl.cli(['users', 'add', 'only-on-a', '--password', 'pw-only-a-1-long', '--json'])
    assert.equal(lone.code, 0, lone.stderr)
    assert.match(lone.stderr, /committed on the primary only .*not confirmed by 127\.0\.60\.61:14983/)
    const report = lone.json<{revision: number; commit: {policy: string; missing: string[]}}>()
    assert.equal(report.commit.policy, 'primary')
    assert.deepEqual(report.commit.missing, [`${B}:14983`])
    await cl.nodes[A].stop()
    await cl.nodes[B].start()
    const refused = await cl.cli(['promote', B, '--yes', '--json'])
    assert.equal(refused.code, 1, 'no majority of 2 without the old primary')
    assert.match(jsonError(refused.stdout).hint ?? '', /--force/)
    const forced = await cl.cli(['promote', B, '--yes', '--force', '--json'])
    assert.equal(forced.code, 0, forced.stderr + forced.stdout)
    assert.match(forced.stderr, /WARNING: --force/)
    await cl.nodes[A].start()
    await pollUntil(async () => (await statusOf(A)).role === 'secondary', 'A demoted', 15_000, 100)
    const env = {CLUSTER_PRIMARY: B}
    const history = await pollUntil(async () => {
      const h = (await cl.cli(['config', 'history', '--json'], env)).json<{discarded?: {id: string; summary: string; status: string}[]}>()
      return h.discarded?.length ? h : undefined
    }, 'the discarded revision listed on the new primary', 10_000, 200)
    const lost = history.discarded!.find((d) => /only-on-a/.test(d.summary))!
    assert.equal(lost.status, 'discarded by failover')
    assert.equal(lost.id, `1-${report.revision}`)
    const human = await cl.cli(['config', 'history'], env)
    assert.match(human.stdout, /Discarded by failover/)
    const back = await cl.cli(['config', 'rollback', lost.id, '--yes', '--json'], env)
    assert.equal(back.code, 0, back.stderr + back.stdout)
    const users = (await cl.cli(['users', 'list', '--json'], env)).stdout
    assert.match(users, /only-on-a/)
  })
})

describe('failover: a secondary its primary no longer lists says so', () => {
  const ips = [`${N}70`, `${N}71`]
  const [P, S] = ips
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('removed while down: at boot the primary refuses its cluster key, node status names the fix, add-server again clears it', async () => {
    cl = await buildCluster(tempDir(), ips)
    await cl.nodes[S].stop()
    const removed = await cl.cli(['remove-server', S, '--yes', '--json'])
    assert.equal(removed.code, 0, removed.stderr + removed.stdout)
    assert.match(removed.stdout, /could not be told/)
    await cl.nodes[S].start() // it still believes it is a secondary of P
    const s = await pollUntil(async () => {
      const x = await statusOf(S)
      return x.problems?.some((p) => p.kind === 'not-listed') ? x : undefined
    }, 'the secondary reports that its primary does not list it', 20_000, 100)
    assert.equal(s.role, 'secondary')
    const problem = s.problems!.find((p) => p.kind === 'not-listed')!
    assert.match(problem.message, new RegExp(`primary ${P.replace(/\./g, '\\.')}:14983 does not list it`))
    assert.match(problem.hint, new RegExp(`cluster add-server ${S.replace(/\./g, '\\.')}`))
    assert.match(cl.nodes[S].log, /the primary does not list this node/)
    const again = await cl.cli(['add-server', S, '--json'])
    assert.equal(again.code, 0, again.stderr + again.stdout)
    assert.deepEqual((await statusOf(S)).problems, [])
  })
})
