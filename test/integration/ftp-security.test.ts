// FtpService security: traversal, FTP bounce (PORT/EPRT), passive hijack, PASV range exhaustion, the
// defender's ban, TLS requirements and session reuse, killed uploads, idle timeout, reload.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import {connect, createServer, type Server, type Socket} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {connect as tlsConnect, type TLSSocket} from 'node:tls'
import {hashPassword} from '../../src/config/password.js'
import {PASSWORD, RawFtp, USER, hasTool, killAll, run, startFtp, tracked, type FtpFixture} from '../helpers/ftp-fixture.js'
import {partSize} from '../helpers/parts.js'

const BIND = '127.0.30.1'

/** Polls `check` until it holds or the deadline passes. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function pasvPort(text: string): number {
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(text)
  assert.ok(m, text)
  return Number(m[5]) * 256 + Number(m[6])
}

function dataConnect(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({host: BIND, port, localAddress})
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

function readAll(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let out = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => (out += d))
    s.on('error', () => {})
    s.on('close', () => resolve(out))
  })
}

describe('FtpService security', () => {
  let f: FtpFixture
  const clients: RawFtp[] = []
  const servers: Server[] = []
  const raw = async (local: string, port = 20041) => {
    const c = await RawFtp.connect(BIND, port, local)
    clients.push(c)
    return c
  }

  before(async () => {
    f = await startFtp({
      bind: BIND, ftpPort: 20041, ftpsPort: 20992, pasvMin: 20140, pasvMax: 20149,
      mutate: (c) => {
        c.limits.unauthenticatedPerAddress = 64
        c.defender.threshold = 15
      },
    })
  })
  after(async () => {
    killAll()
    for (const c of clients) c.close()
    for (const s of servers) s.close()
    await f?.stop()
  })

  it('refuses traversal out of the home: ../.., %2e%2e, absolute paths, symlinks', async () => {
    await fs.writeFile(path.join(f.storage, 'secret.txt'), 'outside')
    await fs.symlink(f.storage, path.join(f.home, 'link-out'))
    await fs.symlink(path.join(f.storage, 'secret.txt'), path.join(f.home, 'secret-link'))
    const c = await raw('127.0.30.2')
    await c.reply()
    assert.equal(await c.login(), 230)
    assert.equal((await c.cmd('CWD ../..'))!.code, 250)
    assert.match((await c.cmd('PWD'))!.text, /^257 "\/"/)
    for (const p of ['../secret.txt', '../../secret.txt', '%2e%2e/secret.txt', '%2e%2e%2fsecret.txt', '/../secret.txt', path.join(f.storage, 'secret.txt'), 'secret-link', 'link-out/secret.txt', '..\\secret.txt']) {
      const r = await c.cmd(`SIZE ${p}`)
      assert.ok(r!.code >= 500, `SIZE ${p}: ${r!.text}`)
      const g = await c.cmd(`RETR ${p}`)
      assert.ok(g!.code >= 500, `RETR ${p}: ${g!.text}`)
    }
    assert.ok((await c.cmd('CWD link-out'))!.code >= 500)
    assert.ok((await c.cmd('MKD link-out/evil'))!.code >= 500)
    assert.ok((await c.cmd('DELE secret-link/x'))!.code >= 500)
    assert.ok((await c.cmd('RNFR ../secret.txt'))!.code >= 500)
    assert.equal((await c.cmd('MKD ../../escape'))!.code, 257) // ".." stops at the home, as in a chroot
    await assert.rejects(fs.stat(path.join(f.storage, 'escape')))
    await fs.stat(path.join(f.home, 'escape'))
    assert.equal(await fs.readFile(path.join(f.storage, 'secret.txt'), 'utf8'), 'outside')
  })

  it('refuses PORT/EPRT to another address (no connection made) and to ports below 1024', async () => {
    let connections = 0
    const trap = createServer((s) => {
      connections++
      s.destroy()
    })
    servers.push(trap)
    await new Promise<void>((r) => trap.listen(20209, '127.0.30.9', () => r()))
    const c = await raw('127.0.30.2')
    await c.reply()
    assert.equal(await c.login(), 230)
    const port = await c.cmd('PORT 127,0,30,9,78,225') // 78*256+225 = 20193 → use the trap's port below
    assert.ok(port!.code >= 500)
    const bounce = await c.cmd(`PORT 127,0,30,9,${20209 >> 8},${20209 & 255}`)
    assert.ok(bounce!.code >= 500 && bounce!.code < 600, bounce!.text)
    assert.ok((await c.cmd('EPRT |1|127.0.30.9|20209|'))!.code >= 500)
    assert.equal((await c.cmd('PORT 127,0,30,2,0,21'))!.code, 501)
    assert.equal((await c.cmd('EPRT |1|127.0.30.2|80|'))!.code, 501)
    const list = await c.cmd('LIST')
    assert.equal(list!.code, 425) // no data address was accepted
    assert.equal(connections, 0)
  })

  it('closes a passive data connection from another address than the control connection', async () => {
    const c = await raw('127.0.30.2')
    await c.reply()
    assert.equal(await c.login(), 230)
    const port = pasvPort((await c.cmd('PASV'))!.text)
    const intruder = await dataConnect(port, '127.0.30.3')
    await readAll(intruder) // resolves when the server closes it
    const mine = await dataConnect(port, '127.0.30.2')
    const listing = readAll(mine)
    assert.equal((await c.cmd('NLST'))!.code, 150)
    assert.equal((await c.reply())!.code, 226)
    await listing
  })

  it('never hands out a passive port outside a range of 10 under 20 parallel requests', async () => {
    const sessions = await Promise.all(Array.from({length: 20}, () => raw('127.0.30.4')))
    await Promise.all(sessions.map(async (c) => {
      await c.reply()
      assert.equal(await c.login(), 230)
    }))
    const replies = await Promise.all(sessions.map((c) => c.cmd('PASV')))
    const ports = replies.filter((r) => r!.code === 227).map((r) => pasvPort(r!.text))
    assert.ok(ports.length <= 10 && ports.length > 0, `${ports.length} passive ports`)
    for (const p of ports) assert.ok(p >= 20140 && p <= 20149, `port ${p} outside 20140-20149`)
    assert.equal(new Set(ports).size, ports.length)
    assert.ok(replies.filter((r) => r!.code === 425).length >= 10)
    for (const c of sessions) c.close()
  })

  it('bans an address after repeated wrong passwords while another address still logs in', async () => {
    let attempts = 0
    let banned = false
    while (attempts < 50 && !banned) {
      const c = await raw('127.0.30.5')
      const greeting = await c.reply()
      if (greeting?.code === 421) {
        banned = true
        break
      }
      while (attempts < 50 && !c.closed) {
        attempts++
        const r = await c.cmd('USER nobody')
        if (!r) break
        const p = await c.cmd(`PASS wrong-${attempts}`)
        if (!p || p.code === 421) break
        assert.equal(p.code, 530)
      }
      c.close()
    }
    const again = await raw('127.0.30.5')
    const refused = await again.reply()
    assert.equal(refused?.code, 421)
    assert.ok(f.defender.isBanned('127.0.30.5'))
    const t0 = Date.now()
    const other = await raw('127.0.30.6')
    assert.equal((await other.reply())!.code, 220)
    assert.equal(await other.login(), 230)
    assert.ok(Date.now() - t0 < 1000)
  })

  it('gives the same reply to an unknown user and a wrong password', async () => {
    const c = await raw('127.0.30.7')
    await c.reply()
    await c.cmd('USER nosuchuser')
    const a = await c.cmd('PASS x')
    await c.cmd(`USER ${USER}`)
    const b = await c.cmd('PASS x')
    assert.equal(a!.text, b!.text)
  })

  it('leaves nothing under the final name when the uploading client is killed', {skip: !hasTool('curl')}, async () => {
    const src = path.join(os.tmpdir(), `ftp-kill-${process.pid}.bin`)
    await fs.writeFile(src, randomBytes(4 * 1024 * 1024))
    try {
      const child = spawn('curl', ['-sS', '--limit-rate', '256k', '-T', src, f.url('ftp', '/killed.bin')], {stdio: 'ignore'})
      tracked.add(child)
      await until(async () => (await partSize(f.home, 'killed.bin')) > 0, 10_000, 'the upload to start')
      const before = f.service.sessions
      child.kill('SIGKILL')
      await new Promise((r) => child.once('close', r))
      tracked.delete(child)
      await until(() => f.service.sessions < before, 5000, 'the session to end')
      await assert.rejects(fs.stat(path.join(f.home, 'killed.bin')))
      const next = await run('curl', ['-sS', '--fail', '--max-time', '20', '-T', src, f.url('ftp', '/killed.bin')])
      assert.equal(next.code, 0, next.stderr)
      assert.equal((await fs.stat(path.join(f.home, 'killed.bin'))).size, 4 * 1024 * 1024)
    } finally {
      await fs.rm(src, {force: true})
    }
  })

  it('applies a user added by a reload at once, and closes an idle session of a removed user', async () => {
    const passwordHash = await hashPassword('bobpw')
    await f.store.change((c) => {
      c.users.push({name: 'bob', passwordHash, publicKeys: [], home: '/bob', permissions: ['list'], disabled: false})
    }, {by: 'test', from: 'local', summary: 'add bob'})
    const c = await raw('127.0.30.8')
    await c.reply()
    assert.equal(await c.login('bob', 'bobpw'), 230)
    await f.store.change((cfg) => {
      cfg.users = cfg.users.filter((u) => u.name !== 'bob')
    }, {by: 'test', from: 'local', summary: 'remove bob'})
    assert.equal((await c.reply())!.code, 421)
  })
})

describe('FtpService with requireTls', () => {
  let f: FtpFixture
  const sockets: {destroy(): void}[] = []

  before(async () => {
    f = await startFtp({
      bind: BIND, ftpPort: 20051, ftpsPort: 20993, pasvMin: 20150, pasvMax: 20159,
      mutate: (c) => {
        c.sites.files.ftp.requireTls = true
        c.limits.idleTimeoutSeconds = 2
      },
    })
  })
  after(async () => {
    killAll()
    for (const s of sockets) s.destroy()
    await f?.stop()
  })

  /** AUTH TLS on a raw control connection; returns a line-reading wrapper over the TLS socket. */
  async function tlsControl(): Promise<{tls: TLSSocket; cmd(l: string): Promise<string>; read(): Promise<string>; sessions: Buffer[]}> {
    const c = await RawFtp.connect(BIND, 20051, '127.0.30.2')
    sockets.push(c.socket)
    await c.reply()
    assert.equal((await c.cmd('AUTH TLS'))!.code, 234)
    c.socket.removeAllListeners('data')
    const tls = tlsConnect({socket: c.socket, rejectUnauthorized: false})
    sockets.push(tls)
    const sessions: Buffer[] = []
    tls.on('session', (s: Buffer) => sessions.push(s))
    await new Promise<void>((r, j) => {
      tls.once('secureConnect', () => r())
      tls.once('error', j)
    })
    let buf = ''
    const waiters: (() => void)[] = []
    tls.setEncoding('utf8')
    tls.on('data', (d: string) => {
      buf += d
      waiters.splice(0).forEach((w) => w())
    })
    const read = async () => {
      const end = Date.now() + 5000
      for (;;) {
        const m = /^\d{3} [^\r\n]*\r\n/m.exec(buf)
        if (m) {
          const text = buf.slice(0, m.index + m[0].length)
          buf = buf.slice(m.index + m[0].length)
          return text
        }
        if (Date.now() > end) throw new Error('no TLS reply')
        await new Promise<void>((r) => {
          const t = setTimeout(r, 100)
          waiters.push(() => (clearTimeout(t), r()))
        })
      }
    }
    return {tls, sessions, read, cmd: async (l: string) => (tls.write(l + '\r\n'), read())}
  }

  it('refuses USER before AUTH TLS and clear data after it', async () => {
    const c = await RawFtp.connect(BIND, 20051, '127.0.30.2')
    sockets.push(c.socket)
    await c.reply()
    assert.equal((await c.cmd(`USER ${USER}`))!.code, 530)
    const t = await tlsControl()
    assert.match(await t.cmd(`USER ${USER}`), /^331/)
    assert.match(await t.cmd(`PASS ${PASSWORD}`), /^230/)
    assert.match(await t.cmd('PBSZ 0'), /^200/)
    assert.match(await t.cmd('PROT C'), /^536/)
    assert.match(await t.cmd('PASV'), /^227/)
    assert.match(await t.cmd('LIST'), /^522/) // PROT P never given: cleartext data refused
  })

  it('refuses a data TLS connection that does not resume the control session, accepts one that does', async () => {
    const t = await tlsControl()
    await t.cmd(`USER ${USER}`)
    assert.match(await t.cmd(`PASS ${PASSWORD}`), /^230/)
    await t.cmd('PBSZ 0')
    assert.match(await t.cmd('PROT P'), /^200/)
    await until(() => t.sessions.length > 0, 3000, 'a TLS session ticket')
    for (const reuse of [false, true]) {
      const port = pasvPort(await t.cmd('PASV'))
      const d = await dataConnect(port, '127.0.30.2')
      sockets.push(d)
      t.tls.write('NLST\r\n')
      assert.match(await t.read(), /^150/)
      const dt = tlsConnect({socket: d, rejectUnauthorized: false, session: reuse ? t.sessions.at(-1) : undefined})
      sockets.push(dt)
      dt.on('error', () => {})
      dt.resume()
      const final = await t.read()
      if (reuse) assert.match(final, /^226/)
      else assert.match(final, /^522/)
    }
  })

  it('works with curl --ssl-reqd and refuses curl without TLS', {skip: !hasTool('curl')}, async () => {
    await fs.writeFile(path.join(f.home, 'tls.txt'), 'over tls')
    const ok = await run('curl', ['-sS', '--fail', '--max-time', '20', '-k', '--ssl-reqd', f.url('ftp', '/tls.txt')])
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(ok.stdout, 'over tls')
    const plain = await run('curl', ['-sS', '--fail', '--max-time', '20', f.url('ftp', '/tls.txt')])
    assert.notEqual(plain.code, 0)
  })

  it('refuses TLS 1.1 and accepts TLS 1.2 on the implicit port', async () => {
    const attempt = (maxVersion: 'TLSv1.1' | 'TLSv1.2') =>
      new Promise<boolean>((resolve) => {
        const tcp = connect({host: BIND, port: 20993, localAddress: '127.0.30.2'})
        const s = tlsConnect({socket: tcp, rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion, ciphers: 'DEFAULT:@SECLEVEL=0'})
        sockets.push(s)
        s.once('secureConnect', () => (s.destroy(), resolve(true)))
        s.once('error', () => resolve(false))
      })
    assert.equal(await attempt('TLSv1.1'), false)
    assert.equal(await attempt('TLSv1.2'), true)
  })

  it('closes an idle control connection with 421', async () => {
    const c = await RawFtp.connect(BIND, 20051, '127.0.30.3')
    sockets.push(c.socket)
    assert.equal((await c.reply())!.code, 220)
    assert.equal((await c.reply(6000))!.code, 421)
  })
})
