// The striped gateway with `replicas 2`: the chain (the first node forwards to the second while it
// receives), 226 only once both copies are durable and identical, overwrite / REST+STOR / APPE on both
// copies, and a RETR cut off by kill -9 of its node resumed with REST from the other replica.
// Addresses: 127.0.71.0/24 only (gateway .2, nodes .3-.5, clients .20+).
import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {spawn} from 'node:child_process'
import {createServer, type Socket} from 'node:net'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {tempDir} from '../helpers/node-process.js'
import {FtpControl, GATEWAY_PORT, PASSWORD, USER, startStripeCluster, type StripeCluster} from '../helpers/stripe-cluster.js'

const G = '127.0.71.2'
const NODES = ['127.0.71.3', '127.0.71.4', '127.0.71.5']
const CLIENT = '127.0.71.20'
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Active-mode upload of `body` from the test's own listener. */
async function put(c: FtpControl, verb: string, body: Buffer): Promise<string> {
  const server = createServer()
  await new Promise<void>((r) => server.listen({host: CLIENT, port: 0}, () => r()))
  const port = (server.address() as {port: number}).port
  server.once('connection', (s: Socket) => {
    s.end(body)
    server.close()
  })
  const p = await c.cmd(`PORT ${CLIENT.split('.').join(',')},${port >> 8},${port & 255}`)
  assert.match(p, /^200/)
  const r = await c.cmd(verb)
  if (!r.startsWith('150')) {
    server.close()
    return r
  }
  return c.reply()
}

async function get(c: FtpControl, verb: string): Promise<{reply: string; data: Buffer; peer: string}> {
  const l = await c.activeListener(CLIENT)
  const r = await c.cmd(verb)
  if (!r.startsWith('150')) {
    l.server.close()
    return {reply: r, data: Buffer.alloc(0), peer: ''}
  }
  const reply = await c.reply()
  const got = await l.accepted
  return {reply, data: got.data, peer: got.peer}
}

/** Runs a Debian python3 (paramiko) script to completion, killed after 120 s. */
function runPy(script: string): Promise<{code: number | null; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/python3', ['-c', script], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stderr})
    })
  })
}

function holders(root: string, vpath: string): {ip: string; data: Buffer}[] {
  return NODES.flatMap((ip) => {
    const f = path.join(root, `node-${ip}`, 'files', '.stripe', 'data', 'alice', vpath)
    return existsSync(f) ? [{ip, data: readFileSync(f)}] : []
  })
}

describe('stripe gateway with replicas 2', () => {
  const root = tempDir('ftpcluster-stripe2-')
  let cluster: StripeCluster
  let c: FtpControl

  before(async () => {
    cluster = await startStripeCluster(root, G, NODES, {replicas: 2})
    c = await FtpControl.open(G, GATEWAY_PORT, CLIENT)
    await c.login()
  })
  after(async () => {
    c?.close()
    await cluster?.stop()
  })

  it('stripe replicas: one upload from the client lands, identical, on exactly two nodes before 226', async () => {
    const body = randomBytes(700_000)
    assert.match(await put(c, 'STOR /two.bin', body), /^226/)
    const h = holders(root, 'two.bin')
    assert.equal(h.length, 2, `held by ${h.map((x) => x.ip).join(', ')}`)
    for (const x of h) assert.equal(sha(x.data), sha(body))
    assert.match(await c.cmd('XSHA256 /two.bin'), new RegExp(sha(body)))
  })

  it('stripe replicas: overwrite, REST+STOR and APPE change both copies and keep them identical', async () => {
    const a = randomBytes(300_000)
    const b = randomBytes(200_000)
    assert.match(await put(c, 'STOR /grow.bin', a), /^226/)
    assert.match(await put(c, 'STOR /grow.bin', b), /^226/, 'overwrite')
    assert.deepEqual(holders(root, 'grow.bin').map((x) => sha(x.data)), [sha(b), sha(b)])
    const tail = randomBytes(50_000)
    assert.match(await put(c, 'APPE /grow.bin', tail), /^226/)
    const appended = Buffer.concat([b, tail])
    assert.deepEqual(holders(root, 'grow.bin').map((x) => sha(x.data)), [sha(appended), sha(appended)])
    assert.match(await c.cmd('REST 100000'), /^350/)
    const rest = randomBytes(80_000)
    assert.match(await put(c, 'STOR /grow.bin', rest), /^226/)
    const resumed = Buffer.concat([appended.subarray(0, 100_000), rest])
    assert.deepEqual(holders(root, 'grow.bin').map((x) => sha(x.data)), [sha(resumed), sha(resumed)])
    assert.match(await c.cmd('SIZE /grow.bin'), new RegExp(`^213 ${resumed.length}`))
    assert.match(await c.cmd('XSHA256 /grow.bin'), new RegExp(sha(resumed)))
    const back = await get(c, 'RETR /grow.bin')
    assert.match(back.reply, /^226/)
    assert.equal(sha(back.data), sha(resumed))
    assert.match(await c.cmd('REST 30000'), /^350/)
    const part = await get(c, 'RETR /grow.bin')
    assert.equal(sha(part.data), sha(resumed.subarray(30_000)), 'REST+RETR')
  })

  it('stripe replicas: a RETR cut off by kill -9 of its node is resumed with REST from the other replica', async () => {
    // slow the data plane so the download is surely in flight when the node dies
    await cluster.change((cfg) => (cfg.stripe.nodeBandwidthLimit = 2 * 1024 * 1024))
    const body = randomBytes(6 * 1024 * 1024)
    assert.match(await put(c, 'STOR /big.bin', body), /^226/)
    const l = await c.activeListener(CLIENT)
    let sender = ''
    let received = 0
    const chunks: Buffer[] = []
    const cut = new Promise<void>((resolve) => {
      l.server.once('connection', (s: Socket) => {
        sender = s.remoteAddress ?? ''
        s.on('data', (d: Buffer) => {
          chunks.push(d)
          received += d.length
        })
        s.on('close', () => resolve())
      })
    })
    assert.match(await c.cmd('RETR /big.bin'), /^150/)
    for (let i = 0; i < 200 && received < 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 20))
    const victim = cluster.nodes.find((n) => n.bind === sender)!
    assert.ok(victim, `the download came from ${sender}`)
    victim.kill()
    await cut
    assert.match(await c.reply(), /^4\d\d/, 'the cut-off transfer is reported as failed')
    const have = Buffer.concat(chunks)
    assert.ok(have.length > 0 && have.length < body.length, `got ${have.length} bytes before the cut`)
    await cluster.change((cfg) => (cfg.stripe.nodeBandwidthLimit = null))
    let rest: {reply: string; data: Buffer; peer: string} | undefined
    for (let i = 0; i < 50; i++) {
      assert.match(await c.cmd(`REST ${have.length}`), /^350/)
      rest = await get(c, 'RETR /big.bin')
      if (rest.reply.startsWith('226')) break
      await new Promise((r) => setTimeout(r, 100)) // the gateway has not yet noticed the dead link
    }
    assert.match(rest!.reply, /^226/)
    assert.notEqual(rest!.peer, sender, 'served by the other replica')
    assert.equal(sha(Buffer.concat([have, rest!.data])), sha(body), 'resumed download is byte-identical')
    // every file is still readable with one node dead
    for (const f of ['/two.bin', '/grow.bin']) assert.match((await get(c, `RETR ${f}`)).reply, /^226/)
    await victim.start()
    await cluster.ready()
  })

  it('stripe replicas: an SFTP download streams through the gateway and continues from the other replica when its node dies mid-way', {skip: !existsSync('/usr/bin/python3')}, async () => {
    await cluster.change((cfg) => (cfg.stripe.nodeBandwidthLimit = 2 * 1024 * 1024))
    const body = randomBytes(6 * 1024 * 1024)
    assert.match(await put(c, 'STOR /sftp-big.bin', body), /^226/)
    const out = path.join(root, 'sftp-big.out')
    const py = `
import paramiko, socket, sys
t = paramiko.Transport(sock=socket.create_connection(('${G}', 2200), source_address=('${CLIENT}', 0)))
t.connect(username='${USER}', password='${PASSWORD}')
s = paramiko.SFTPClient.from_transport(t)
f = s.open('/sftp-big.bin', 'rb')
got = 0
told = False
with open('${out}', 'wb') as o:
    while True:
        d = f.read(65536)
        if not d:
            break
        o.write(d)
        got += len(d)
        if got >= 1024 * 1024 and not told:
            print('FIRST-MIB', flush=True)
            told = True
f.close()
t.close()
print('DONE', got, flush=True)
`
    const from = cluster.gateway.log.length
    const child = spawn('/usr/bin/python3', ['-c', py], {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    try {
      for (let i = 0; i < 1000 && !stdout.includes('FIRST-MIB') && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 20))
      assert.match(stdout, /FIRST-MIB/, stderr)
      const line = /striped SFTP read relayed .*node=(\S+)/.exec(cluster.gateway.log.slice(from))
      assert.ok(line, 'the gateway logged which node it relays from')
      const victim = cluster.nodes.find((n) => line[1].startsWith(n.bind))!
      assert.ok(victim, `the relay came from ${line[1]}`)
      victim.kill()
      assert.equal(await exited, 0, stderr)
      assert.match(stdout, new RegExp(`DONE ${body.length}`))
      assert.equal(sha(readFileSync(out)), sha(body), 'the download is byte-identical')
      assert.match(cluster.gateway.log.slice(from), /a copy failed; continuing from the next node/, 'the relay continued from the other replica')
      await cluster.change((cfg) => (cfg.stripe.nodeBandwidthLimit = null))
      await victim.start()
      await cluster.ready()
    } finally {
      clearTimeout(killer)
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })

  it('stripe replicas: SFTP uploads are forwarded to both copies while they arrive; a client that rewrites earlier bytes still gets its exact content', {skip: !existsSync('/usr/bin/python3')}, async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17)
    const file = path.join(root, 'sftp-up.bin')
    writeFileSync(file, body)
    const py = `
import paramiko, socket
t = paramiko.Transport(sock=socket.create_connection(('${G}', 2200), source_address=('${CLIENT}', 0)))
t.connect(username='${USER}', password='${PASSWORD}')
s = paramiko.SFTPClient.from_transport(t)
s.put('${file}', '/sftp-up.bin')
f = s.open('/sftp-rewrite.bin', 'wb')
f.write(b'a' * 2000000)
f.seek(10)
f.write(b'HEADER')
f.close()
t.close()
`
    const from = cluster.gateway.log.length
    const r = await runPy(py)
    assert.equal(r.code, 0, r.stderr)
    const log = cluster.gateway.log.slice(from)
    assert.match(log, /striped SFTP upload forwarded while it arrived path=\/sftp-up\.bin/, 'the plain put was forwarded as it arrived')
    const up = holders(root, 'sftp-up.bin')
    assert.equal(up.length, 2)
    for (const x of up) assert.equal(sha(x.data), sha(body))
    const expected = Buffer.alloc(2_000_000, 'a')
    expected.write('HEADER', 10)
    const re = holders(root, 'sftp-rewrite.bin')
    assert.equal(re.length, 2)
    for (const x of re) assert.equal(sha(x.data), sha(expected), 'the rewritten bytes are in both copies')
  })
})
