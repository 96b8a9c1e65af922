// File-service workers on a real node (supervisor + 2 workers, 127.0.100.x): one gate and one ban table for all
// of them, configuration applied in every worker before it is acknowledged, a killed worker restarted while
// the other's transfer goes on, the passive range shared without collisions, and a graceful stop of all.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {promises as fs} from 'node:fs'
import https from 'node:https'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {hashPassword} from '../../src/config/password.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {RawFtp, killAll, run} from '../helpers/ftp-fixture.js'
import {ADMIN_PASSWORD, createNode, pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'

const A = '127.0.100.2'
const CLIENT = '127.0.100.50'
const PASV = {min: 50610, max: 50619}
const CLI_ENV = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: tempDir('ftpcluster-cli-')}

async function admin(): Promise<AdminClient> {
  return AdminClient.connect({host: A, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
}

async function changeConfig(mutate: (c: ClusterConfig) => void | Promise<void>): Promise<void> {
  const c = await admin()
  try {
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    await mutate(config)
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
  } finally {
    c.close()
  }
}

async function status(): Promise<NodeStatus> {
  const c = await admin()
  try {
    return await c.exec<NodeStatus>('status', null)
  } finally {
    c.close()
  }
}

/** The worker ids the node logged for this client address, in order of the log lines since `from`. */
function workersOf(node: TestNode, from: number, what: RegExp): number[] {
  return node.log
    .slice(from)
    .split('\n')
    .filter((l) => what.test(l))
    .map((l) => Number(/worker=(\d+)/.exec(l)?.[1]))
    .filter((n) => n > 0)
}

describe('file-service workers (supervisor + 2 workers)', () => {
  let node: TestNode
  let storage = ''

  before(async () => {
    const root = tempDir()
    storage = path.join(root, 'files')
    node = await createNode(root, A, ['--workers', '2', '--storage', storage, '--pasv-ports', `${PASV.min}-${PASV.max}`])
    await node.start()
    const passwordHash = await hashPassword('alice-password-1')
    await changeConfig((c) => {
      c.users.push({name: 'alice', passwordHash, publicKeys: [], home: '/alice', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
      c.defender.failDelayMs = 10
    })
    await fs.mkdir(path.join(storage, 'alice'), {recursive: true})
  })
  after(async () => {
    killAll()
    await node?.stop()
  })

  it('node status lists both workers with their pids, sessions and CPU', async () => {
    const s = await status()
    assert.equal(s.workers?.length, 2)
    for (const w of s.workers!) {
      assert.equal(w.state, 'up')
      assert.ok(w.pid && w.pid > 0)
      assert.equal(typeof w.cpuSeconds, 'number')
    }
    const r = await runCli(['node', 'status', A, '--json'], {env: CLI_ENV})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json<NodeStatus>().workers?.length, 2)
  })

  it('a configuration change (a new user) is in effect in every worker once it is acknowledged', async () => {
    // two idle connections: the least loaded worker takes each, so one sits on each worker
    const c1 = await RawFtp.connect(A, 2121, CLIENT)
    assert.equal((await c1.reply())?.code, 220)
    const c2 = await RawFtp.connect(A, 2121, CLIENT)
    assert.equal((await c2.reply())?.code, 220)
    try {
      const r = await runCli(['users', 'add', 'bob', '--primary', A], {env: {...CLI_ENV, CLUSTER_USER_PASSWORD: 'bob-password-12'}})
      assert.equal(r.code, 0, r.stderr)
      const from = node.log.length
      assert.equal(await c1.login('bob', 'bob-password-12'), 230)
      assert.equal(await c2.login('bob', 'bob-password-12'), 230)
      const on = await pollUntil(() => {
        const ids = workersOf(node, from, /ftp login .*user=bob/)
        return ids.length >= 2 ? ids : undefined
      }, 'both login lines')
      assert.deepEqual(new Set(on), new Set([1, 2]), 'the two sessions ran on the two workers')
    } finally {
      c1.close()
      c2.close()
    }
  })

  it('the per-address limit counts the connections of every worker together', async () => {
    await changeConfig((c) => {
      c.limits.perAddress = 3
    })
    const held: RawFtp[] = []
    try {
      for (let i = 0; i < 3; i++) {
        const c = await RawFtp.connect(A, 2121, CLIENT)
        assert.equal((await c.reply())?.code, 220, `connection ${i + 1} is admitted`)
        held.push(c)
      }
      const s = await status()
      assert.ok(s.workers!.every((w) => w.sessions >= 1), `the 3 connections are spread over both workers: ${JSON.stringify(s.workers)}`)
      const fourth = await RawFtp.connect(A, 2121, CLIENT)
      const reply = await fourth.reply()
      assert.equal(reply?.code, 421, 'the fourth connection from the address is refused')
      fourth.close()
      // another address is not affected
      const other = await RawFtp.connect(A, 2121, '127.0.100.51')
      assert.equal((await other.reply())?.code, 220)
      other.close()
    } finally {
      for (const c of held) c.close()
      await changeConfig((c) => {
        c.limits.perAddress = 64
      })
    }
  })

  it('a ban earned through one worker refuses the address everywhere, also on a session another worker holds', async () => {
    const guesser = '127.0.100.52'
    await changeConfig((c) => {
      c.defender.threshold = 4
    })
    // an idle session of the same address held on the first worker, opened before the ban
    const holder = await RawFtp.connect(A, 2121, guesser)
    assert.equal((await holder.reply())?.code, 220)
    const from = node.log.length
    try {
      for (let i = 0; i < 4; i++) {
        const g = await RawFtp.connect(A, 2121, guesser)
        const hello = await g.reply()
        if (hello?.code !== 220) break
        await g.cmd('USER alice')
        await g.cmd('PASS wrong-password')
        g.close()
      }
      const guessedOn = new Set(workersOf(node, from, /login failed/))
      assert.ok(guessedOn.size >= 1, node.log.slice(from))
      await pollUntil(async () => {
        const c = await RawFtp.connect(A, 2121, guesser)
        const r = await c.reply()
        c.close()
        return r === null || r.code === 421
      }, 'the address to be refused at the gate')
      // the held session lives on the other worker, which saw none of the failures: its mirror of the ban
      // knows the address is banned, so the next failure closes the session at once
      await holder.cmd('USER alice')
      const r = await holder.cmd('PASS wrong-again')
      assert.equal(r?.code, 421, `the worker holding the older session knows the ban: ${r?.text}`)
      const other = await RawFtp.connect(A, 2121, '127.0.100.53')
      assert.equal((await other.reply())?.code, 220, 'another address still connects')
      other.close()
    } finally {
      holder.close()
      await changeConfig((c) => {
        c.defender.threshold = 15
      })
    }
  })

  it('20 parallel PASV over both workers stay inside the 10-port range and never share a port', async () => {
    // two client addresses: each stays under the 16 unauthenticated connections allowed per address
    const conns = await Promise.all(Array.from({length: 20}, async (_, i) => {
      const c = await RawFtp.connect(A, 2121, i % 2 ? '127.0.100.54' : '127.0.100.57')
      await c.reply()
      return c
    }))
    try {
      await Promise.all(conns.map((c) => c.login('alice', 'alice-password-1')))
      const replies = await Promise.all(conns.map((c) => c.cmd('EPSV')))
      const ports: number[] = []
      for (const r of replies) {
        assert.ok(r, 'every EPSV is answered')
        if (r.code === 229) ports.push(Number(/\(\|\|\|(\d+)\|\)/.exec(r.text)?.[1]))
        else assert.equal(r.code, 425, `exhausted range answers 425: ${r.text}`)
      }
      assert.equal(ports.length, 10, `exactly the 10 ports of the range are handed out: ${ports.join(',')}`)
      for (const p of ports) assert.ok(p >= PASV.min && p <= PASV.max, `port ${p} is inside the range`)
      assert.equal(new Set(ports).size, ports.length, 'no port is handed to two sessions')
    } finally {
      for (const c of conns) c.close()
    }
  })

  it('web sessions run in the workers: a session made on one worker works on the other; a logout on one is refused on both', async () => {
    const req = (method: string, route: string, headers: Record<string, string>, body?: string) => new Promise<{status: number; json: Record<string, unknown>}>((resolve, reject) => {
      const r = https.request({host: A, port: 8443, path: route, method, headers, localAddress: CLIENT, agent: false, rejectUnauthorized: false, timeout: 15_000}, (res) => {
        let text = ''
        res.on('data', (d: Buffer) => (text += d))
        res.on('end', () => resolve({status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}}))
      })
      r.on('timeout', () => r.destroy(new Error('timeout')))
      r.on('error', reject)
      r.end(body)
    })
    const from = node.log.length
    // two held connections first: the least loaded worker takes each new one, so the logins land on both
    const a = await req('POST', '/api/login', {'content-type': 'application/json'}, JSON.stringify({user: 'alice', password: 'alice-password-1'}))
    const b = await req('POST', '/api/login', {'content-type': 'application/json'}, JSON.stringify({user: 'alice', password: 'alice-password-1'}))
    assert.equal(a.status, 200)
    assert.equal(b.status, 200)
    const ids = await pollUntil(() => {
      const w = workersOf(node, from, /\[web\] web login .*user=alice/)
      return w.length >= 2 ? w : undefined
    }, 'two web login lines')
    assert.ok(ids.every((n) => n === 1 || n === 2), `web logins ran in workers: ${ids.join(',')}`)
    const token = String(a.json.token)
    const bearer = {authorization: `Bearer ${token}`}
    for (let i = 0; i < 4; i++) assert.equal((await req('GET', '/api/session', bearer)).status, 200, 'the session works on every worker')
    const s = await runCli(['web', 'status', '--primary', A, '--json'], {env: CLI_ENV})
    assert.equal(s.code, 0, s.stderr)
    assert.ok((s.json<{nodes: {sessions: number}[]}>().nodes[0].sessions) >= 1, s.stdout)
    assert.equal((await req('POST', '/api/logout', bearer)).status, 200)
    for (let i = 0; i < 4; i++) assert.equal((await req('GET', '/api/session', bearer)).status, 401, 'the revoked session is refused by every worker')
  })

  it('kill -9 of a worker: it is restarted, the other worker\'s transfer completes, /healthz stays 200 with a note', async () => {
    const big = path.join(storage, 'alice', 'big.bin')
    await fs.writeFile(big, Buffer.alloc(8 * 1024 * 1024, 7))
    const before = await status()
    const download = run('curl', ['-s', '--limit-rate', '2M', '-o', '/dev/null', '-w', '%{size_download}', '--interface', '127.0.100.55', `ftp://alice:alice-password-1@${A}:2121/big.bin`], 30_000)
    // the worker holding the download is the one with a session
    const busy = await pollUntil(async () => (await status()).workers!.find((w) => w.sessions > 0), 'the download session')
    const victim = before.workers!.find((w) => w.id !== busy.id)!
    process.kill(victim.pid!, 'SIGKILL')
    const restarted = await pollUntil(async () => {
      const s = await status()
      const w = s.workers!.find((x) => x.id === victim.id)!
      return w.state === 'up' && w.pid !== victim.pid && w.restarts >= 1 ? w : undefined
    }, 'the killed worker to be restarted', 10_000)
    assert.match(restarted.lastExit?.reason ?? '', /SIGKILL/)
    const health = await fetch(`http://${A}:14980/healthz`)
    assert.equal(health.status, 200)
    const body = (await health.json()) as {notes: string[]}
    assert.ok(body.notes.some((n) => n.includes(`worker ${victim.id} restarted`)), JSON.stringify(body))
    const r = await download
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, String(8 * 1024 * 1024), 'the transfer on the other worker is complete')
  })

  it('SIGTERM stops the supervisor and every worker within 5 s, exit 0', async () => {
    const s = await status()
    const pids = s.workers!.map((w) => w.pid!)
    const idle = await RawFtp.connect(A, 2121, '127.0.100.56')
    await idle.reply()
    const started = Date.now()
    const p = node.process!
    const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)))
    p.kill('SIGTERM')
    const code = await exited
    assert.equal(code, 0)
    assert.ok(Date.now() - started < 6000, `stopped in ${Date.now() - started} ms`)
    await pollUntil(() => pids.every((pid) => spawnSync('kill', ['-0', String(pid)]).status !== 0), 'every worker process to be gone', 3000)
    idle.close()
  })
})
