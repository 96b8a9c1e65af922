// The striped gateway end to end: a gateway (127.0.70.2, also the primary) and 3 storage nodes
// (127.0.70.3-5), real processes; curl, lftp and Python's ftplib in active and passive mode (and PRET), a
// test-owned active listener that checks the data came from the nodes, not the gateway.
// Addresses: 127.0.70.0/24 only (clients 127.0.70.20-40).
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {hasTool} from '../helpers/tools.js'
import {tempDir} from '../helpers/node-process.js'
import {FtpControl, GATEWAY_PORT, PASSWORD, USER, startStripeCluster, type StripeCluster} from '../helpers/stripe-cluster.js'

const G = '127.0.70.2'
const NODES = ['127.0.70.3', '127.0.70.4', '127.0.70.5']
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

function run(cmd: string, args: string[], opts: {input?: string; timeoutMs?: number} = {}): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code: code ?? -1, stdout, stderr})
    })
    child.stdin.end(opts.input ?? '')
  })
}

/** Pieces per node: files under <node>/files/.stripe/data/alice/<dir>. */
function piecesOn(root: string, ip: string, dir: string): string[] {
  const d = path.join(root, `node-${ip}`, 'files', '.stripe', 'data', 'alice', dir)
  if (!existsSync(d)) return []
  return readdirSync(d).filter((n) => !n.startsWith('.'))
}

describe('stripe gateway (3 storage nodes, real clients)', () => {
  const root = tempDir('ftpcluster-stripe-')
  const local = path.join(root, 'local')
  let cluster: StripeCluster
  const files = new Map<string, Buffer>()

  before(async () => {
    mkdirSync(local, {recursive: true})
    cluster = await startStripeCluster(root, G, NODES)
  })
  after(async () => {
    await cluster?.stop()
  })

  it('stripe gateway: a test-owned active listener gets the data from a storage node, not the gateway', async () => {
    const c = await FtpControl.open(G, GATEWAY_PORT, '127.0.70.20')
    try {
      await c.login()
      assert.match(await c.cmd('MKD /owned'), /^257/)
      const body = randomBytes(200_000)
      for (let i = 0; i < 6; i++) {
        // upload in active mode: the node connects to us and we send
        const up = await import('node:net').then(({createServer}) => createServer())
        await new Promise<void>((r) => up.listen({host: '127.0.70.20', port: 0}, () => r()))
        const upPort = (up.address() as {port: number}).port
        const peer = new Promise<string>((resolve) => up.once('connection', (s) => {
          resolve(s.remoteAddress ?? '')
          s.end(body)
          up.close()
        }))
        assert.match(await c.cmd(`PORT 127,0,70,20,${upPort >> 8},${upPort & 255}`), /^200/)
        assert.match(await c.cmd(`STOR /owned/f${i}`), /^150/)
        assert.match(await c.reply(), /^226/)
        const upPeer = await peer
        assert.ok(NODES.includes(upPeer), `upload data connection came from ${upPeer}`)
        const l = await c.activeListener('127.0.70.20')
        assert.match(await c.cmd(`RETR /owned/f${i}`), /^150/)
        assert.match(await c.reply(), /^226/)
        const got = await l.accepted
        assert.ok(NODES.includes(got.peer), `download data connection came from ${got.peer}, expected one of ${NODES.join(', ')}`)
        assert.notEqual(got.peer, G)
        assert.equal(sha(got.data), sha(body))
      }
      assert.match(await c.cmd('SIZE /owned/f0'), /^213 200000/)
      assert.match(await c.cmd('XSHA256 /owned/f0'), new RegExp(`^213 ${sha(body)}`))
      assert.match(await c.cmd('HASH /owned/f0'), new RegExp(`^213 SHA-256 0-199999 ${sha(body)} /owned/f0`))
    } finally {
      c.close()
    }
  })
})
