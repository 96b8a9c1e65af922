// A real 3-node cluster behind a real HAProxy (reliability 17): TCP mode with send-proxy-v2 to the nodes'
// SFTP port, HTTP health checks on /healthz. Sessions reach the nodes with the client's address, a killed node
// is marked down within inter × fall, a drained node gets no new sessions, --undo brings it back.
// Addresses: 127.0.16.0/24 only — HAProxy on .1, nodes on .2-.4, the curl client on .9.
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {ADMIN_PASSWORD, createNode, pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'
import {needs} from '../helpers/tools.js'

const LB = '127.0.16.1'
const NODES = ['127.0.16.2', '127.0.16.3', '127.0.16.4']
const [P, S1, S2] = NODES
const CLIENT = '127.0.16.9'
const SFTP_PORT = 2222
const INTER_MS = 200
const FALL = 2
const USER = 'alice'
const PASSWORD = 'alice-through-haproxy'

function haproxyConfig(dir: string): string {
  return `global
  stats socket ${path.join(dir, 'haproxy.sock')} mode 600 level admin
  maxconn 512

defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 2
  option redispatch

frontend sftp
  bind ${LB}:${SFTP_PORT}
  default_backend nodes

backend nodes
  balance roundrobin
  # the nodes trust PROXY headers only from this address
  source ${LB}
  option httpchk GET /healthz
  default-server check port 14980 inter ${INTER_MS}ms fall ${FALL} rise 2 send-proxy-v2
${NODES.map((ip, i) => `  server n${i + 2} ${ip}:${SFTP_PORT}`).join('\n')}
`
}

/** HAProxy's runtime API on its stats socket: one command, the whole answer. */
function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket)
    let out = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => (out += d))
    s.on('error', reject)
    s.on('close', () => resolve(out))
    s.setTimeout(2000, () => s.destroy(new Error(`no answer to "${command}"`)))
    s.end(`${command}\n`)
  })
}

/** Server name → status (UP, DOWN, "UP 1/2" …) of the `nodes` backend, from `show stat`. */
async function serverStates(socket: string): Promise<Record<string, string>> {
  const csv = await haproxyCommand(socket, 'show stat')
  const [head, ...rows] = csv.trim().split('\n')
  const cols = head.replace(/^# /, '').split(',')
  const [px, sv, st] = ['pxname', 'svname', 'status'].map((c) => cols.indexOf(c))
  const out: Record<string, string> = {}
  for (const row of rows) {
    const f = row.split(',')
    if (f[px] === 'nodes' && f[sv] !== 'BACKEND') out[f[sv]] = f[st]
  }
  return out
}

const serverName = (ip: string) => `n${NODES.indexOf(ip) + 2}`

/** One SFTP session through HAProxy: curl from CLIENT uploads a file; exit code 0 = the session worked. */
function sftpUpload(file: string, name: string): Promise<{code: number | null; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '--insecure', '--interface', CLIENT, '--connect-timeout', '5', '-m', '20', '-u', `${USER}:${PASSWORD}`, '-T', file, `sftp://${LB}:${SFTP_PORT}/${name}`], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (code) => resolve({code, stderr}))
  })
}

async function admin(host: string): Promise<AdminClient> {
  return AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
}

describe('HAProxy in front of a 3-node cluster (e2e)', {skip: needs('haproxy', 'curl')}, () => {
  const root = tempDir()
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: P}
  const nodes: Record<string, TestNode> = {}
  const socket = path.join(root, 'haproxy.sock')
  const payload = path.join(root, 'payload.txt')
  let haproxy: ChildProcess | undefined
  let haproxyLog = ''
  let sessions = 0

  /** Where the session `name` landed: the node whose storage holds the uploaded file. */
  const landedOn = (name: string) => NODES.filter((ip) => existsSync(path.join(nodes[ip].dir, 'files', USER, name)))

  /** `count` sessions through HAProxy, one after the other; returns the node each landed on. */
  async function sessionsThrough(count: number): Promise<string[]> {
    const where: string[] = []
    for (let i = 0; i < count; i++) {
      const name = `s-${++sessions}.txt`
      const r = await sftpUpload(payload, name)
      assert.equal(r.code, 0, `session ${name} failed: ${r.stderr}\nhaproxy: ${haproxyLog}`)
      const on = landedOn(name)
      assert.equal(on.length, 1, `${name} is on ${on.join(', ') || 'no node'}`)
      where.push(on[0])
    }
    return where
  }

  before(async () => {
    writeFileSync(payload, 'through the load balancer\n')
    for (const ip of NODES) nodes[ip] = await createNode(root, ip)
    await Promise.all(NODES.map((ip) => nodes[ip].start()))
    for (const ip of [S1, S2]) {
      const r = await runCli(['add-server', ip, '--json'], {env})
      assert.equal(r.code, 0, r.stderr + r.stdout)
    }
    const u = await runCli(['users', 'add', USER, '--password', PASSWORD, '--json'], {env})
    assert.equal(u.code, 0, u.stderr + u.stdout)
    const c = await admin(P)
    let revision: number
    try {
      const config = await c.readJson<ClusterConfig>(PATHS.config)
      config.sites.files.proxyProtocol = {enabled: true, trustedProxies: [`${LB}/32`]}
      await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision, changeSummary: 'proxy protocol from HAProxy'}))
      revision = config.revision + 1
    } finally {
      c.close()
    }
    await pollUntil(async () => {
      const all = await Promise.all(NODES.map(async (ip) => {
        const a = await admin(ip)
        return a.exec<NodeStatus>('status', null).finally(() => a.close())
      }))
      return all.every((s) => s.revision >= revision)
    }, `revision ${revision} on every node`, 10_000, 100)

    const cfg = path.join(root, 'haproxy.cfg')
    writeFileSync(cfg, haproxyConfig(root))
    haproxy = spawn('haproxy', ['-f', cfg, '-db'], {stdio: ['ignore', 'pipe', 'pipe']})
    haproxy.stdout!.on('data', (d) => (haproxyLog += d))
    haproxy.stderr!.on('data', (d) => (haproxyLog += d))
    await pollUntil(async () => {
      const states = await serverStates(socket)
      return NODES.every((ip) => states[serverName(ip)] === 'UP')
    }, 'HAProxy to see every node UP', 10_000, 50)
  })

  after(async () => {
    if (haproxy?.pid && haproxy.exitCode === null && haproxy.signalCode === null) {
      const exited = new Promise((r) => haproxy!.once('exit', r))
      process.kill(haproxy.pid, 'SIGTERM')
      await exited
    }
    await Promise.all(Object.values(nodes).map((n) => n.stop()))
  })

  it('sessions through HAProxy work, spread over the nodes, and each node logs the client\'s address', async () => {
    const where = await sessionsThrough(6)
    for (const ip of NODES) assert.ok(where.includes(ip), `roundrobin reached ${ip}: ${where.join(' ')}`)
    for (const ip of NODES) {
      assert.match(nodes[ip].log, new RegExp(`\\[sftp\\] login user=${USER} method=password address=${CLIENT.replace(/\./g, '\\.')}`))
      assert.doesNotMatch(nodes[ip].log, new RegExp(`login user=${USER} .*address=${LB.replace(/\./g, '\\.')}\\b`), 'not the proxy\'s address')
    }
  })

  it('a drained node is marked down and gets no new sessions; --undo brings it back', async () => {
    const r = await runCli(['node', 'drain', S2, '--json'], {env})
    assert.equal(r.code, 0, r.stderr)
    const t0 = Date.now()
    await pollUntil(async () => (await serverStates(socket))[serverName(S2)] === 'DOWN', 'HAProxy to mark the drained node DOWN', 5000, 20)
    process.stderr.write(`drained node marked DOWN by HAProxy after ${Date.now() - t0} ms\n`)
    const where = await sessionsThrough(6)
    assert.ok(!where.includes(S2), `no session on the drained node: ${where.join(' ')}`)

    const undo = await runCli(['node', 'drain', S2, '--undo', '--json'], {env})
    assert.equal(undo.code, 0, undo.stderr)
    await pollUntil(async () => (await serverStates(socket))[serverName(S2)] === 'UP', 'HAProxy to mark the node UP again', 5000, 20)
    const back = await sessionsThrough(6)
    assert.ok(back.includes(S2), `sessions reach the node again: ${back.join(' ')}`)
  })

  it(`a node killed with SIGKILL is marked down within inter × fall (${INTER_MS} ms × ${FALL}) and the survivors take every session`, async () => {
    nodes[S1].kill()
    const t0 = Date.now()
    await pollUntil(async () => (await serverStates(socket))[serverName(S1)] === 'DOWN', 'HAProxy to mark the killed node DOWN', 5000, 10)
    const elapsed = Date.now() - t0
    process.stderr.write(`killed node marked DOWN by HAProxy after ${elapsed} ms (inter ${INTER_MS} ms × fall ${FALL})\n`)
    // one interval of slack: the kill can land just after a successful check
    assert.ok(elapsed <= INTER_MS * (FALL + 1) + 300, `marked down after ${elapsed} ms`)
    const where = await sessionsThrough(8)
    assert.ok(!where.includes(S1))
    assert.ok(where.includes(P) && where.includes(S2), `both survivors serve: ${where.join(' ')}`)
  })
})
