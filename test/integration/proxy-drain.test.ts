// A real node behind a (simulated) load balancer: PROXY protocol on the files site (untrusted peers dropped,
// the gate and the defender applied to the header's client), and drain (`cluster node drain`).
// Addresses: 127.0.17.0/24 only — the node on .2, the "proxy" on .1, an untrusted peer on .3.
import assert from 'node:assert/strict'
import net from 'node:net'
import tls from 'node:tls'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {ADMIN_PASSWORD, createNode, pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'

const NODE = '127.0.17.2'
const PROXY = '127.0.17.1'
const STRANGER = '127.0.17.3'
const FTP_PORT = 2121
const SFTP_PORT = 2222
const FTPS_PORT = 2990

/** A TLS ClientHello as a client's first bytes (captured from node's TLS client). */
async function clientHello(): Promise<Buffer> {
  const capture = net.createServer()
  await new Promise<void>((r) => capture.listen(0, STRANGER, r))
  const hello = new Promise<Buffer>((r) => capture.once('connection', (s) => s.once('data', (d: Buffer) => (r(d), s.destroy()))))
  const c = tls.connect({host: STRANGER, port: (capture.address() as net.AddressInfo).port, rejectUnauthorized: false})
  c.on('error', () => {})
  try {
    return await hello
  } finally {
    c.destroy()
    capture.close()
  }
}

async function admin(): Promise<AdminClient> {
  return AdminClient.connect({host: NODE, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
}

async function change(mutate: (c: ClusterConfig) => void): Promise<void> {
  const c = await admin()
  try {
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    mutate(config)
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
  } finally {
    c.close()
  }
}

/** A raw connection from `from` that sends `first` at once; collects what the node answers until it closes. */
class Peer {
  text = ''
  closed = false
  readonly socket: net.Socket
  constructor(from: string, port: number, first: string | Buffer) {
    this.socket = net.connect({host: NODE, port, localAddress: from})
    this.socket.on('error', () => {})
    this.socket.setEncoding('latin1')
    this.socket.on('data', (d: string) => (this.text += d))
    this.socket.on('close', () => (this.closed = true))
    this.socket.write(first)
  }
  send(line: string): void {
    this.socket.write(line + '\r\n')
  }
  /** Waits for a reply line matching `re` (or for the close). */
  async expect(re: RegExp, what: string): Promise<string> {
    return pollUntil(() => re.exec(this.text)?.[0] ?? (this.closed ? Promise.reject(new Error(`closed after ${JSON.stringify(this.text)}`)) : undefined), what, 5000, 10)
  }
  destroy(): void {
    this.socket.destroy()
  }
}

const v1 = (client: string) => `PROXY TCP4 ${client} ${NODE} 40000 ${FTP_PORT}\r\n`

async function health(): Promise<number> {
  const res = await fetch(`http://${NODE}:14980/healthz`)
  await res.arrayBuffer()
  return res.status
}

describe('PROXY protocol and drain on a real node', () => {
  const root = tempDir()
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: NODE}
  let node: TestNode
  const peers: Peer[] = []
  const peer = (from: string, port: number, first: string | Buffer) => {
    const p = new Peer(from, port, first)
    peers.push(p)
    return p
  }

  before(async () => {
    node = await createNode(root, NODE)
    await node.start()
    const r = await runCli(['users', 'add', 'alice', '--password', 'alice-pw-123', '--json'], {env})
    assert.equal(r.code, 0, r.stderr)
    await change((c) => {
      c.sites.files.proxyProtocol = {enabled: true, trustedProxies: [`${PROXY}/32`]}
      c.sites.files.ipFilter = [{action: 'deny', cidr: '192.0.2.66/32'}, ...c.sites.files.ipFilter]
      c.defender = {...c.defender, threshold: 2, failDelayMs: 0}
    })
  })
  after(async () => {
    for (const p of peers) p.destroy()
    await node?.stop()
  })

  it('a trusted proxy\'s header names the client: FTP greets, and the node logs the header\'s address', async () => {
    const p = peer(PROXY, FTP_PORT, v1('198.51.100.20'))
    await p.expect(/^220 .*\r\n/m, 'greeting')
    p.send('USER alice')
    await p.expect(/^331 /m, '331')
    p.send('PASS alice-pw-123')
    await p.expect(/^230 /m, 'login')
    await pollUntil(() => /ftp login user=alice address=198\.51\.100\.20/.test(node.log), 'the login logged with the client address')
  })

  it('implicit FTPS: a ClientHello in the same segment as the header is not lost', async () => {
    const hello = await clientHello()
    const p = peer(PROXY, FTPS_PORT, Buffer.concat([Buffer.from(`PROXY TCP4 198.51.100.22 ${NODE} 40000 ${FTPS_PORT}\r\n`), hello]))
    await pollUntil(() => p.text.length > 0 && p.text.charCodeAt(0) === 0x16, 'a TLS handshake record back (ServerHello)')
  })

  it('an untrusted peer is dropped before any byte, even with a valid header (SFTP and FTP)', async () => {
    for (const port of [FTP_PORT, SFTP_PORT]) {
      const p = peer(STRANGER, port, v1('198.51.100.21'))
      await pollUntil(() => p.closed, `the untrusted connection on ${port} closed`)
      assert.equal(p.text, '', 'no greeting, no SSH banner')
    }
    assert.match(node.log, /connection dropped site=files peer=127\.0\.17\.3 reason="not a trusted proxy/)
  })

  it('a header with a filtered client address is refused by the gate; one without a header in 3 s is closed', async () => {
    const ftp = peer(PROXY, FTP_PORT, v1('192.0.2.66'))
    await ftp.expect(/^421 .*\r\n/m, 'refusal')
    const sftp = peer(PROXY, SFTP_PORT, `PROXY TCP4 192.0.2.66 ${NODE} 40000 ${SFTP_PORT}\r\nSSH-2.0-test\r\n`)
    await pollUntil(() => sftp.closed, 'the filtered SFTP connection closed')
    assert.equal(sftp.text, '')
    assert.match(node.log, /connection refused address=192\.0\.2\.66 reason=filtered/)
    const silent = peer(PROXY, SFTP_PORT, '')
    const started = Date.now()
    await pollUntil(() => silent.closed, 'the silent connection closed', 6000)
    const waited = Date.now() - started
    assert.ok(waited > 2500 && waited < 4500, `closed after ${waited} ms`)
  })

  it('failed logins ban the header\'s client, not the proxy: another client through the same proxy still logs in', async () => {
    for (let i = 0; i < 2; i++) {
      const p = peer(PROXY, FTP_PORT, v1('198.51.100.66'))
      await p.expect(/^220 /m, 'greeting')
      p.send('USER alice')
      await p.expect(/^331 /m, '331')
      p.send('PASS wrong')
      await p.expect(/^(530|421) /m, 'the failure (421 once banned)')
      p.destroy()
    }
    const banned = peer(PROXY, FTP_PORT, v1('198.51.100.66'))
    await banned.expect(/^421 Too many failed logins/m, 'the ban')
    const other = peer(PROXY, FTP_PORT, v1('198.51.100.67'))
    await other.expect(/^220 /m, 'greeting for another client')
  })

  it('cluster node drain: /healthz 503, new sessions refused, the open session goes on; --undo restores', async () => {
    const open = peer(PROXY, FTP_PORT, v1('198.51.100.30'))
    await open.expect(/^220 /m, 'greeting')
    open.send('USER alice')
    await open.expect(/^331 /m, '331')
    open.send('PASS alice-pw-123')
    await open.expect(/^230 /m, 'login')

    const r = await runCli(['node', 'drain', NODE, '--json'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.json(), {nodeId: r.json<{nodeId: string}>().nodeId, draining: true, changed: true})
    assert.equal(await health(), 503)
    const c = await admin()
    const status = await c.exec<NodeStatus>('status', null).finally(() => c.close())
    assert.equal(status.draining, true)
    assert.equal(status.services.sftp, 'draining')

    const refused = peer(PROXY, FTP_PORT, v1('198.51.100.31'))
    await refused.expect(/^421 This node is draining/m, 'the drain refusal')
    const sftp = peer(PROXY, SFTP_PORT, `PROXY TCP4 198.51.100.31 ${NODE} 40000 ${SFTP_PORT}\r\n`)
    await pollUntil(() => sftp.closed, 'the SFTP connection refused while draining')
    open.send('PWD')
    await open.expect(/^257 /m, 'the open session still answers')

    const again = await runCli(['node', 'drain', NODE], {env})
    assert.match(again.stdout, /already was/)
    const undo = await runCli(['node', 'drain', NODE, '--undo', '--json'], {env})
    assert.equal(undo.code, 0, undo.stderr)
    assert.equal(undo.json<{draining: boolean}>().draining, false)
    assert.equal(await health(), 200)
    const back = peer(PROXY, FTP_PORT, v1('198.51.100.32'))
    await back.expect(/^220 /m, 'greeting after undo')
  })

  it('drain needs an admin and a boolean', async () => {
    const c = await admin()
    try {
      await assert.rejects(c.exec('drain', {enable: 'yes'}), /"enable" must be true or false/)
    } finally {
      c.close()
    }
  })
})
