// The six reproductions of issue #8 on real node processes built with the CLI: a stale primary, two promotes
// at once, a dead secondary that looked healthy, a hand-edited secondary, a kill during add-server, and a
// node that did not stop. Addresses: 127.0.60.0/24 only.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import ssh2 from 'ssh2'
import {hashPassword} from '../../src/config/password.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import type {NodeStatus, ServersDocument} from '../../src/protocol/index.js'
import {buildCluster, converged, statusOf, states, type TestCluster} from '../helpers/cluster.js'
import {runCli} from '../helpers/cli.js'
import {pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'
import {CLI} from '../helpers/paths.js'

const N = '127.0.60.'

/** True when the files site of `host` lets `user` log in with `password` over SFTP. */
function loginWorks(host: string, user: string, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = new ssh2.Client()
    const done = (ok: boolean) => {
      c.end()
      resolve(ok)
    }
    c.once('ready', () => done(true))
    c.once('error', () => done(false))
    c.connect({host, port: 2222, username: user, password, readyTimeout: 5000, hostVerifier: () => true})
  })
}

/** Exit time of a node after SIGTERM, in ms (SIGKILL after 10 s so the test always ends). */
async function stopTimed(node: TestNode): Promise<number> {
  const p = node.process!
  const t0 = Date.now()
  const exited = new Promise<void>((r) => p.once('exit', () => r()))
  p.kill('SIGTERM')
  const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
  // The daemon's last-resort exit names what was left open; it must not be what ended the process.
  assert.doesNotMatch(node.log, /still open after stop/)
  return Date.now() - t0
}

function jsonError(stdout: string): {code: string; message: string; hint?: string} {
  return (JSON.parse(stdout) as {error: {code: string; message: string; hint?: string}}).error
}

describe('failover: a stale primary never acknowledges a change that is later thrown away (1)', () => {
  const ips = [`${N}2`, `${N}3`, `${N}4`]
  const [A, B, C] = ips
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('restarted alone after a promote, the old primary refuses: it cannot confirm that it is still the primary', async () => {
    cl = await buildCluster(tempDir(), ips)
    await cl.nodes[A].stop()
    const promoted = await cl.cli(['promote', B, '--yes', '--json'])
    assert.equal(promoted.code, 0, promoted.stderr + promoted.stdout)
    await pollUntil(async () => (await statusOf(C)).epoch === 2, 'C at epoch 2', 10_000, 50)
    await Promise.all([cl.nodes[B].stop(), cl.nodes[C].stop()])
    await cl.nodes[A].start()
    const r = await cl.cli(['users', 'add', 'lost-user', '--password', 'pw-lost-1', '--primary', A])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stderr, /cannot confirm that this node is still the primary: .*unreachable; see `cluster diagnose`/)
    assert.match(r.stderr, /nothing was applied/)
    assert.equal((await statusOf(A)).revision, (await statusOf(A)).revision)
  })

  it('with the new primary away but a member at the new epoch, it refuses too, and is demoted without losing anything', async () => {
    await cl.nodes[C].start()
    const r = await cl.cli(['users', 'add', 'lost-user-2', '--password', 'pw-lost-2', '--primary', A, '--json'])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(jsonError(r.stdout).message, /no longer the primary|cannot confirm/)
    await cl.nodes[B].start()
    await pollUntil(async () => {
      const s = await statusOf(A)
      return s.role === 'secondary' && s.epoch === 2
    }, 'A demoted to a secondary of epoch 2', 20_000, 100)
    const ok = await cl.cli(['users', 'add', 'kept-user', '--password', 'pw-kept-1', '--primary', B, '--json'])
    assert.equal(ok.code, 0, ok.stderr + ok.stdout)
    const all = await pollUntil(async () => {
      const s = await states(ips)
      return converged(s) ? s : undefined
    }, 'all nodes at the same epoch, revision and hash', 15_000, 100)
    assert.equal(all.find((s) => s.role === 'primary')!.bind, B)
    const users = (JSON.parse(readFileSync(path.join(cl.nodes[A].dir, 'config', 'current.json'), 'utf8')) as ClusterConfig).users.map((u) => u.name)
    assert.deepEqual(users, ['kept-user'], 'the refused changes were applied nowhere')
  })
})

describe('failover: two promotes at once (2)', () => {
  const ips = [`${N}10`, `${N}11`, `${N}12`]
  const [A, B, C] = ips
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('exactly one wins, the other exits 1 naming the winner, and the cluster converges with the old primary back', async () => {
    cl = await buildCluster(tempDir(), ips)
    await cl.nodes[A].stop()
    const [rb, rc] = await Promise.all([cl.cli(['promote', B, '--yes', '--json']), cl.cli(['promote', C, '--yes', '--json'])])
    const codes = [rb.code, rc.code].sort()
    assert.deepEqual(codes, [0, 1], `B: ${rb.code} ${rb.stdout}${rb.stderr}\nC: ${rc.code} ${rc.stdout}${rc.stderr}`)
    const [winner, loser] = rb.code === 0 ? [B, rc] : [C, rb]
    const e = jsonError(loser.stdout)
    assert.match(e.message, new RegExp(`${winner.replace(/\./g, '\\.')}:14983`), `the loser names the winner: ${e.message}`)
    await cl.nodes[A].start()
    const all = await pollUntil(async () => {
      const s = await states(ips)
      return converged(s) ? s : undefined
    }, 'one primary, same epoch, revision and hash everywhere', 20_000, 100)
    assert.equal(all.find((s) => s.role === 'primary')!.bind, winner)
    const w = await cl.cli(['users', 'add', 'after-promote', '--password', 'pw-after-1', '--primary', winner])
    assert.equal(w.code, 0, w.stderr)
  })
})

describe('failover: liveness in seconds (3)', () => {
  const ips = [`${N}20`, `${N}21`, `${N}22`]
  const [P, S1, S2] = ips
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('sync check exits 3, servers and health show it, within 3 s of kill -9 of a secondary', async () => {
    cl = await buildCluster(tempDir(), ips)
    assert.equal((await cl.cli(['sync', 'check', '--max-age', '180'])).code, 0)
    const t0 = Date.now()
    cl.nodes[S1].kill()
    await pollUntil(async () => (await cl.cli(['sync', 'check', '--max-age', '180'])).code === 3, 'sync check exit 3', 3000, 20)
    process.stderr.write(`kill -9 → sync check exit 3: ${Date.now() - t0} ms\n`)
    const doc = (await cl.cli(['servers', '--json'])).json<ServersDocument>()
    assert.equal(doc.servers.find((s) => s.host === S1)?.state, 'unreachable')
    assert.equal((await cl.cli(['health'])).code, 3)
  })

  it('a SIGSTOPped secondary shows unreachable within a few seconds (keepalives), and in sync after SIGCONT', async () => {
    await cl.nodes[S1].start()
    await pollUntil(async () => (await cl.cli(['sync', 'check'])).code === 0, 'all in sync again', 15_000, 100)
    const pid = cl.nodes[S2].process!.pid!
    const t0 = Date.now()
    process.kill(pid, 'SIGSTOP')
    try {
      await pollUntil(async () => (await cl.cli(['servers', '--json'])).json<ServersDocument>().servers.find((s) => s.host === S2)?.state === 'unreachable', 'the stopped secondary unreachable', 8000, 50)
      process.stderr.write(`SIGSTOP → unreachable: ${Date.now() - t0} ms\n`)
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    await pollUntil(async () => (await cl.cli(['sync', 'check'])).code === 0, 'in sync after SIGCONT', 40_000, 200)
  })
})

describe('failover: a hand edit of a secondary\'s current.json is drift (4)', () => {
  const ips = [`${N}30`, `${N}31`, `${N}32`]
  const [P, S1] = ips
  let cl: TestCluster
  after(async () => cl?.stopAll())

  async function editUser(file: string, name: string, password: string): Promise<void> {
    const c = JSON.parse(readFileSync(file, 'utf8')) as ClusterConfig
    c.users.push({name, passwordHash: await hashPassword(password), publicKeys: [], home: `/${name}`, permissions: ['list'], disabled: false} as unknown as ClusterConfig['users'][number])
    writeFileSync(file, JSON.stringify(c, null, 2))
  }

  it('on a running secondary: detected by sync check, repaired within one interval, the added user never logs in', async () => {
    cl = await buildCluster(tempDir(), ips)
    assert.equal((await cl.cli(['sync', 'settings', '--interval', '2'])).code, 0)
    await pollUntil(async () => (await cl.cli(['sync', 'check'])).code === 0, 'in sync', 10_000, 100)
    const file = path.join(cl.nodes[S1].dir, 'config', 'current.json')
    await editUser(file, 'intruder', 'intruder-pw-1')
    const primaryHash = (await statusOf(P)).hash
    assert.equal(await loginWorks(S1, 'intruder', 'intruder-pw-1'), false, 'the edit is not served')
    const t0 = Date.now()
    await pollUntil(async () => (await statusOf(S1)).hash === primaryHash && !readFileSync(file, 'utf8').includes('intruder'), 'the file repaired by the primary', 6000, 100)
    process.stderr.write(`hand edit repaired after ${Date.now() - t0} ms (interval 2 s)\n`)
    assert.match(cl.nodes[S1].log, /changed outside the cluster/, 'detected: the node re-reads its file before reporting its hash')
    assert.match(cl.nodes[S1].log, /repairing config\/current\.json/)
    assert.equal(await loginWorks(S1, 'intruder', 'intruder-pw-1'), false)
  })

  it('after a restart while the primary is down, the edit is refused (not served), shown by node status, repaired when the primary returns', async () => {
    await cl.nodes[P].stop()
    await cl.nodes[S1].stop()
    const file = path.join(cl.nodes[S1].dir, 'config', 'current.json')
    await editUser(file, 'intruder2', 'intruder-pw-2')
    await cl.nodes[S1].start()
    assert.equal(await loginWorks(S1, 'intruder2', 'intruder-pw-2'), false, 'a hand edit is never served')
    const st = await runCli(['node', 'status', S1, '--json'], {env: cl.env})
    assert.equal(st.code, 0, st.stderr)
    assert.ok(st.json<NodeStatus>().problems?.some((p) => p.kind === 'hand-edited'), st.stdout)
    await cl.nodes[P].start()
    await pollUntil(async () => (await statusOf(S1)).hash === (await statusOf(P)).hash, 'repaired after the primary is back', 15_000, 100)
    assert.equal(await loginWorks(S1, 'intruder2', 'intruder-pw-2'), false)
  })
})

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
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (/overwriting/.test(stderr)) cl.nodes[P].kill()
    })
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
    assert.equal(code, 1, stderr)
    assert.match(stderr, /closed the connection during `add-server`.*check its log/)
    await cl.nodes[P].start()
    const listed = (await cl.cli(['servers', '--json'])).json<ServersDocument>().servers.some((s) => s.host === NEW)
    const s = await pollUntil(async () => {
      const x = await statusOf(NEW)
      return listed || x.role !== 'secondary' || x.problems?.some((p) => p.kind === 'not-listed') ? x : undefined
    }, 'the new node explains its state', 15_000, 100)
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
    const lone = await cl.cli(['users', 'add', 'only-on-a', '--password', 'pw-only-a-1', '--json'])
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
