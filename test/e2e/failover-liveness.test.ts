// Failover on real node processes built with the CLI: liveness in seconds and hand edits as drift (reproductions 3 and 4 of #8).
// Addresses: 127.0.60.0/24 only.
import assert from 'node:assert/strict'
import {after, describe, it} from 'node:test'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {hashPassword} from '../../src/config/password.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import type {NodeStatus, ServersDocument} from '../../src/protocol/index.js'
import {buildCluster, loginWorks, statusOf, type TestCluster} from '../helpers/cluster.js'
import {runCli} from '../helpers/cli.js'
import {pollUntil, tempDir} from '../helpers/node-process.js'

const N = '127.0.60.'

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
      await pollUntil(async () => (await cl.cli(['servers', '--json'])).json<ServersDocument>().servers.find((s) => s.host === S2)?.state === 'unreachable', 'the stopped secondary unreachable', 15_000, 50)
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
