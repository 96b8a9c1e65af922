// Issue 9, attacks 3-8 against a real node process with real clients: storage/data overlap at init and start,
// channel and handle limits (paramiko), SFTP offsets ≥ 2^53, status codes, parallel password guessing (raw
// FTP sockets), the health port's gate and timeouts (raw sockets). Addresses: 127.0.50.5-6, 127.0.50.20-29.
import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import {connect, type Socket} from 'node:net'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import type {NodeStatus} from '../../src/protocol/index.js'
import {needsParamiko, runPy, startNodeWithUser, USER_PASSWORD} from '../helpers/attack-node.js'
import {runCli} from '../helpers/cli.js'
import {RawFtp} from '../helpers/ftp-fixture.js'
import {ADMIN_PASSWORD, tempDir, type TestNode} from '../helpers/node-process.js'

const A = '127.0.50.5'

function healthGet(localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({host: A, port: 14980, path: '/healthz', localAddress, timeout: 15_000}, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('health request timed out')))
  })
}

describe('attack: limits, offsets, status codes, guessing, overlap', () => {
  const skip = needsParamiko()
  const root = tempDir()
  const storage = path.join(root, 'storage')
  let node: TestNode

  before(async () => {
    mkdirSync(storage)
    node = await startNodeWithUser(root, A, storage, (c: ClusterConfig) => {
      c.defender.failDelayMs = 200
    }, ['--workers', '6']) // more workers than this machine has cores: parallel guesses land on different processes
  })
  after(async () => {
    await node?.stop()
  })

  it('node init refuses (exit 2, naming what to use) a storage that is, contains or sits inside the data directory (through a symlink too)', async () => {
    const dir = path.join(root, 'n-overlap')
    for (const storageArg of [dir, root, path.join(dir, 'config')]) {
      const r = await runCli(['node', 'init', dir, '--bind', '127.0.50.6', '--storage', storageArg], {env: {CLUSTER_ADMIN_PASSWORD: ADMIN_PASSWORD}})
      assert.equal(r.code, 2, `${storageArg}: ${r.stderr}`)
      assert.match(r.stderr, /data directory/)
      assert.match(r.stderr, /storage directory outside/)
    }
  })

  it('node start refuses a node.json whose storage contains the data directory', async () => {
    const nodeJson = path.join(node.dir, 'node.json')
    const saved = readFileSync(nodeJson, 'utf8')
    const other = path.join(root, 'copy')
    const settings = JSON.parse(saved) as {storage: string}
    // a second data directory made from the running one, its storage pointed at the filesystem root
    mkdirSync(other)
    writeFileSync(path.join(other, 'node.json'), JSON.stringify({...settings, storage: '/'}))
    const r = await runCli(['node', 'start', other])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /contains the node's data directory/)
  })

  it('SFTP: 10 channels per connection, 1,024 open files per connection, offsets ≥ 2^53 refused, own status texts; admin and /healthz answer', {skip, timeout: 120_000}, async () => {
    const r = await runPy('sftp_probe.py', [A, '2222', 'alice', USER_PASSWORD], 100_000)
    assert.equal(r.code, 0, r.stderr)
    const o = JSON.parse(r.stdout) as Record<string, string | number | boolean | null>
    process.stderr.write(`sftp probe: ${r.stdout}`)
    assert.equal(o.channels, 10)
    assert.equal(o.handles, 1024)
    assert.match(String(o.handleError), /too many open files in this connection \(limit 1024\)/)
    assert.match(String(o.bigWrite), /^error: .*out of range/)
    assert.match(String(o.bigRead), /^error: .*out of range/)
    assert.equal(o.afterBig, 'AAAA', 'nothing was written at a wrong offset')
    assert.equal(o.alive, true, 'the connection survived')
    assert.match(String(o.tooLong), /file name too long/)
    assert.match(String(o.intoItself), /invalid argument/)
    assert.match(String(o.isDirectory), /is a directory/)
    assert.equal(await healthGet('127.0.50.24'), 200)
    const c = await AdminClient.connect({host: A, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
    assert.equal((await c.exec<NodeStatus>('status', null)).nodeId.length > 0, true)
    c.close()
  })

  it('FTP: REST ≥ 2^53 is refused; a long name is 553, a directory into itself 550 Invalid argument', async () => {
    const c = await RawFtp.connect(A, 2121, '127.0.50.25')
    await c.reply()
    assert.equal(await c.login('alice', USER_PASSWORD), 230)
    assert.equal((await c.cmd('REST 9007199254740993'))!.code, 501)
    assert.match((await c.cmd(`MKD ${'n'.repeat(300)}`))!.text, /^553 File name too long/)
    assert.equal((await c.cmd('MKD loop'))!.code, 257)
    assert.equal((await c.cmd('RNFR loop'))!.code, 350)
    assert.match((await c.cmd('RNTO loop/inner'))!.text, /^550 Invalid argument/)
    c.close()
  })

  it('parallel guessing: 16 connections × 6 wrong passwords get at most the threshold (15) checked', {timeout: 60_000}, async () => {
    let checked = 0
    let refused = 0
    await Promise.all(Array.from({length: 16}, async () => {
      const c = await RawFtp.connect(A, 2121, '127.0.50.21').catch(() => null)
      if (!c) return void refused++
      const hello = await c.reply()
      if (hello?.code !== 220) return void (refused++, c.close())
      for (let i = 0; i < 6 && !c.closed; i++) {
        await c.cmd('USER alice')
        const r = await c.cmd('PASS wrong-guess', 10_000)
        if (r?.code === 530) checked++
        else refused++
        if (r === null || r.code === 421) break
      }
      c.close()
    }))
    process.stderr.write(`guessing: ${checked} checked, ${refused} refused\n`)
    assert.ok(checked <= 15, `${checked} passwords were checked`)
    assert.ok(refused > 0)
  })

  it('health port: 1,000 idle connections from one address hold at most 16; an incomplete request is cut at the 5 s timeout, not 30', {timeout: 60_000}, async () => {
    const sockets: Socket[] = []
    let open = 0
    await Promise.all(Array.from({length: 1000}, () => new Promise<void>((resolve) => {
      const s = connect({host: A, port: 14980, localAddress: '127.0.50.22'})
      sockets.push(s)
      s.on('error', () => {})
      s.once('connect', () => {
        open++
        resolve()
      })
      s.once('close', () => {
        open = Math.max(0, open - 1)
        resolve()
      })
    })))
    const deadline = Date.now() + 15_000
    while (open > 16 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const held = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length
    assert.ok(held <= 16, `${held} connections held`)
    assert.equal(await healthGet('127.0.50.23'), 200, 'another address is still answered')
    for (const s of sockets) s.destroy()
    const started = Date.now()
    const slow = connect({host: A, port: 14980, localAddress: '127.0.50.26'})
    slow.on('error', () => {})
    slow.once('connect', () => slow.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'))
    await new Promise((r) => slow.once('close', r))
    const seconds = (Date.now() - started) / 1000
    process.stderr.write(`health: incomplete request closed after ${seconds.toFixed(1)} s\n`)
    assert.ok(seconds < 15, `closed after ${seconds} s`)
  })
})
