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

  /** Writes `n` random files named `<prefix>-<i>.bin` locally (sizes 1 KiB … 300 KiB) and remembers them. */
  function makeFiles(dir: string, prefix: string, n: number): string[] {
    const d = path.join(local, dir)
    mkdirSync(d, {recursive: true})
    const names: string[] = []
    for (let i = 0; i < n; i++) {
      const name = `${prefix}-${i}.bin`
      const body = randomBytes(1024 + Math.floor(Math.random() * 300 * 1024))
      writeFileSync(path.join(d, name), body)
      files.set(`${dir}/${name}`, body)
      names.push(name)
    }
    return names
  }

  function assertSame(dir: string, names: string[], downloaded: string): void {
    for (const n of names) {
      const got = readFileSync(path.join(downloaded, n))
      assert.equal(sha(got), sha(files.get(`${dir}/${n}`)!), `${dir}/${n} differs after the round trip`)
    }
  }

  for (const mode of ['active', 'passive'] as const) {
    it(`stripe gateway: curl in ${mode} mode uploads 10 files and downloads them byte-identical`, {skip: !hasTool('curl')}, async () => {
      const dir = `curl-${mode}`
      const names = makeFiles(dir, 'c', 10)
      const ip = mode === 'active' ? '127.0.70.21' : '127.0.70.22'
      const modeArgs = mode === 'active' ? ['-P', ip] : []
      const base = `ftp://${G}:${GATEWAY_PORT}/${dir}/`
      const up = await run('curl', ['-sS', '--interface', ip, ...modeArgs, '--ftp-create-dirs', '-u', `${USER}:${PASSWORD}`, ...names.flatMap((n) => ['-T', path.join(local, dir, n), base])])
      assert.equal(up.code, 0, up.stderr)
      const out = path.join(local, `${dir}-down`)
      mkdirSync(out, {recursive: true})
      const down = await run('curl', ['-sS', '--interface', ip, ...modeArgs, '-u', `${USER}:${PASSWORD}`, ...names.flatMap((n) => ['-o', path.join(out, n), base + n])])
      assert.equal(down.code, 0, down.stderr)
      assertSame(dir, names, out)
    })
  }

  for (const mode of ['active', 'relay', 'pret'] as const) {
    it(`stripe gateway: lftp (${mode}) mirrors 10 files up and back byte-identical`, {skip: !hasTool('lftp')}, async () => {
      const dir = `lftp-${mode}`
      const names = makeFiles(dir, 'l', 10)
      const ip = {active: '127.0.70.23', relay: '127.0.70.24', pret: '127.0.70.25'}[mode]
      const out = path.join(local, `${dir}-down`)
      mkdirSync(out, {recursive: true})
      const settings = [
        `set net:socket-bind-ipv4 ${ip}`,
        'set net:max-retries 1',
        'set cmd:fail-exit yes',
        'set ftp:ssl-allow no',
        `set ftp:passive-mode ${mode === 'active' ? 'off' : 'on'}`,
        `set ftp:use-pret ${mode === 'pret' ? 'true' : 'false'}`,
        'debug -o ' + path.join(local, `${dir}.log`) + ' 5',
      ]
      const script = [...settings, `open -u ${USER},${PASSWORD} ftp://${G}:${GATEWAY_PORT}`, `mkdir -p /${dir}`, `cd /${dir}`, `lcd ${path.join(local, dir)}`, `mput ${names.join(' ')}`, `lcd ${out}`, `mget ${names.join(' ')}`, 'bye'].join('\n')
      const scriptFile = path.join(local, `${dir}.lftp`)
      writeFileSync(scriptFile, script + '\n')
      const r = await run('lftp', ['-f', scriptFile])
      assert.equal(r.code, 0, r.stderr + r.stdout)
      assertSame(dir, names, out)
      const log = readFileSync(path.join(local, `${dir}.log`), 'utf8')
      if (mode === 'pret') {
        assert.match(log, /---> PRET RETR/, 'lftp used PRET')
        assert.match(log, /227 Entering Passive Mode \(127,0,70,[345],/, 'after PRET the passive port is a storage node\'s')
        assert.doesNotMatch(log, /227 Entering Passive Mode \(127,0,70,2,/)
      }
      if (mode === 'active') assert.match(log, /---> (PORT|EPRT)/)
    })
  }

  it('stripe gateway: Python ftplib in active mode uploads and downloads 10 files byte-identical', {skip: !existsSync('/usr/bin/python3')}, async () => {
    const dir = 'ftplib-active'
    const names = makeFiles(dir, 'p', 10)
    const out = path.join(local, `${dir}-down`)
    mkdirSync(out, {recursive: true})
    const py = `
import ftplib, os, sys
ftp = ftplib.FTP(source_address=('127.0.70.26', 0), timeout=30)
ftp.connect('${G}', ${GATEWAY_PORT})
ftp.login('${USER}', '${PASSWORD}')
ftp.set_pasv(False)
ftp.mkd('/${dir}')
ftp.cwd('/${dir}')
names = sys.argv[1:]
for n in names:
    with open(os.path.join('${path.join(local, dir)}', n), 'rb') as f:
        ftp.storbinary('STOR ' + n, f)
for n in names:
    with open(os.path.join('${out}', n), 'wb') as f:
        ftp.retrbinary('RETR ' + n, f.write)
print(ftp.size(names[0]))
ftp.quit()
`
    const r = await run('/usr/bin/python3', ['-c', py, ...names])
    assert.equal(r.code, 0, r.stderr)
    assertSame(dir, names, out)
  })

  it('stripe gateway: the 60 client files are spread over all 3 nodes, none holding fewer than 10', () => {
    const dirs = ['curl-active', 'curl-passive', 'lftp-active', 'lftp-relay', 'lftp-pret', 'ftplib-active']
    const counts = NODES.map((ip) => dirs.reduce((n, d) => n + piecesOn(root, ip, d).length, 0))
    assert.equal(counts.reduce((a, b) => a + b, 0), 60, `pieces per node: ${counts.join(', ')}`)
    for (const c of counts) assert.ok(c >= 10, `pieces per node: ${counts.join(', ')}`)
  })

  it('stripe gateway: MKD, MLSD, NLST, STAT, MFMT/MDTM, RNFR/RNTO of a file and a directory, DELE, RMD come from the catalogue', async () => {
    const c = await FtpControl.open(G, GATEWAY_PORT, '127.0.70.27')
    try {
      await c.login()
      assert.match(await c.cmd('MKD /meta'), /^257/)
      assert.match(await c.cmd('MKD /meta'), /^550/)
      const l = await c.activeListener('127.0.70.27')
      const up = await import('node:net').then(({createServer}) => createServer())
      await new Promise<void>((r) => up.listen({host: '127.0.70.27', port: 0}, () => r()))
      const upPort = (up.address() as {port: number}).port
      up.once('connection', (sock) => {
        sock.end('meta content')
        up.close()
      })
      l.server.close()
      assert.match(await c.cmd(`EPRT |1|127.0.70.27|${upPort}|`), /^200/)
      assert.match(await c.cmd('STOR /meta/a.txt'), /^150/)
      assert.match(await c.reply(), /^226/)
      assert.match(await c.cmd('MFMT 20200102030405 /meta/a.txt'), /^213/)
      assert.match(await c.cmd('MDTM /meta/a.txt'), /^213 20200102030405/)
      assert.match(await c.cmd('STAT /meta'), /^213/)
      const list = await c.activeListener('127.0.70.27')
      assert.match(await c.cmd('MLSD /meta'), /^150/)
      assert.match(await c.reply(), /^226/)
      assert.match((await list.accepted).data.toString(), /type=file;size=12;modify=20200102030405;.* a\.txt\r\n/)
      assert.match(await c.cmd('RNFR /meta/a.txt'), /^350/)
      assert.match(await c.cmd('RNTO /meta/b.txt'), /^250/)
      assert.match(await c.cmd('SIZE /meta/a.txt'), /^550/)
      assert.match(await c.cmd('SIZE /meta/b.txt'), /^213 12/)
      assert.match(await c.cmd('RNFR /meta'), /^350/)
      assert.match(await c.cmd('RNTO /meta2'), /^250/)
      assert.match(await c.cmd('SIZE /meta2/b.txt'), /^213 12/)
      const holders = NODES.filter((ip) => piecesOn(root, ip, '../alice/meta2').includes('b.txt'))
      assert.equal(holders.length, 1, 'the piece moved with its directory on the node')
      const nl = await c.activeListener('127.0.70.27')
      assert.match(await c.cmd('NLST /meta2'), /^150/)
      assert.match(await c.reply(), /^226/)
      assert.equal((await nl.accepted).data.toString(), 'b.txt\r\n')
      assert.match(await c.cmd('RMD /meta2'), /^550/, 'not empty')
      assert.match(await c.cmd('DELE /meta2/b.txt'), /^250/)
      assert.deepEqual(NODES.flatMap((ip) => piecesOn(root, ip, '../alice/meta2')), [], 'the piece is deleted on its node')
      assert.match(await c.cmd('RMD /meta2'), /^250/)
      assert.match(await c.cmd('CWD /meta2'), /^550/)
      assert.match(await c.cmd('STOR /.x.stripe-meta'), /^553/, 'reserved piece-store names are refused')
    } finally {
      c.close()
    }
  })

  it('stripe gateway: with a storage node down, LIST still shows its files (marked unreadable) and RETR says 450 naming the node', async () => {
    const down = cluster.nodes[0]
    down.kill()
    await new Promise((r) => down.process!.once('exit', r))
    const c = await FtpControl.open(G, GATEWAY_PORT, '127.0.70.28')
    try {
      await c.login()
      const dir = 'curl-active'
      const onDown = piecesOn(root, down.bind, dir)
      assert.ok(onDown.length > 0)
      const l = await c.activeListener('127.0.70.28')
      assert.match(await c.cmd(`LIST /${dir}`), /^150/)
      assert.match(await c.reply(), /^226/)
      const text = (await l.accepted).data.toString()
      assert.equal(text.trim().split('\r\n').length, 10, 'every file is listed')
      for (const n of onDown) assert.match(text, new RegExp(`^-{10} .* ${n.replace('.', '\\.')}$`, 'm'), `${n} is marked`)
      let r = ''
      for (let i = 0; i < 50; i++) {
        const p = await c.activeListener('127.0.70.28')
        r = await c.cmd(`RETR /${dir}/${onDown[0]}`)
        p.server.close()
        if (r.startsWith('450')) break
        if (r.startsWith('150')) await c.reply()
        await new Promise((res) => setTimeout(res, 100)) // the link notices the node's death within a moment
      }
      assert.match(r, new RegExp(`^450 .*storage node ${down.bind.replace(/\./g, '\\.')}:14983.*down`))
    } finally {
      c.close()
      await down.start()
    }
    await cluster.ready()
  })

  it('stripe gateway: FTPS PROT P in active mode — the node\'s data TLS resumes the client\'s session with the gateway', async () => {
    const {connect: tlsConnect} = await import('node:tls')
    const {createServer} = await import('node:net')
    const c = await FtpControl.open(G, GATEWAY_PORT, '127.0.70.29')
    try {
      await c.secure()
      await c.login()
      for (let i = 0; i < 50 && !c.session; i++) await new Promise((r) => setTimeout(r, 20)) // TLS 1.3 tickets follow the handshake
      assert.ok(c.session, 'the gateway issued a session ticket')
      const body = randomBytes(300_000)
      const reused: boolean[] = []
      const peers: string[] = []
      const transfer = async (verb: string, send: Buffer | null): Promise<Buffer> => {
        const server = createServer()
        await new Promise<void>((r) => server.listen({host: '127.0.70.29', port: 0}, () => r()))
        const port = (server.address() as {port: number}).port
        const done = new Promise<Buffer>((resolve, reject) => {
          server.once('connection', (raw) => {
            server.close()
            peers.push(raw.remoteAddress ?? '')
            const t = tlsConnect({socket: raw, session: c.session, rejectUnauthorized: false})
            t.once('error', reject)
            t.once('secureConnect', () => {
              reused.push(t.isSessionReused())
              if (send) t.end(send)
            })
            const chunks: Buffer[] = []
            t.on('data', (d: Buffer) => chunks.push(d))
            t.on('close', () => resolve(Buffer.concat(chunks)))
          })
        })
        assert.match(await c.cmd(`PORT 127,0,70,29,${port >> 8},${port & 255}`), /^200/)
        assert.match(await c.cmd(verb), /^150/)
        const data = await done
        assert.match(await c.reply(), /^226/)
        return data
      }
      await transfer('STOR /tls.bin', body)
      const back = await transfer('RETR /tls.bin', null)
      assert.equal(sha(back), sha(body))
      assert.deepEqual(reused, [true, true], 'both data connections resumed the control session')
      for (const p of peers) assert.ok(NODES.includes(p), `TLS data connection came from ${p}`)
    } finally {
      c.close()
    }
  })

  // curl 7.88 (Debian 12) sends clear data on an accepted active connection after PROT P, so lftp is the
  // real client here (it copies the control session to the data connections: ftp:ssl-copy-sid)
  it('stripe gateway: lftp over explicit FTPS (PROT P, active) uploads and downloads byte-identical', {skip: !hasTool('lftp')}, async () => {
    const dir = 'lftp-tls'
    const names = makeFiles(dir, 't', 3)
    const ip = '127.0.70.30'
    const out = path.join(local, `${dir}-down`)
    mkdirSync(out, {recursive: true})
    const script = [
      `set net:socket-bind-ipv4 ${ip}`, 'set net:max-retries 1', 'set cmd:fail-exit yes', 'set ftp:ssl-force true', 'set ftp:ssl-protect-data true',
      'set ssl:verify-certificate no', 'set ftp:passive-mode off', 'set ftp:use-pret false', 'debug -o ' + path.join(local, `${dir}.log`) + ' 5',
      `open -u ${USER},${PASSWORD} ftp://${G}:${GATEWAY_PORT}`, `mkdir -p /${dir}`, `cd /${dir}`, `lcd ${path.join(local, dir)}`, `mput ${names.join(' ')}`, `lcd ${out}`, `mget ${names.join(' ')}`, 'bye',
    ].join('\n')
    const scriptFile = path.join(local, `${dir}.lftp`)
    writeFileSync(scriptFile, script + '\n')
    const r = await run('lftp', ['-f', scriptFile])
    const log = readFileSync(path.join(local, `${dir}.log`), 'utf8')
    assert.equal(r.code, 0, r.stderr + r.stdout + log.slice(-3000))
    assert.match(log, /---> PROT P/)
    assert.match(log, /---> (PORT|EPRT)/)
    assertSame(dir, names, out)
  })

  it('stripe gateway: SFTP on 2200 (paramiko) serves the same virtual tree: put, get byte-identical, rename, listing, and FTP sees it', {skip: !existsSync('/usr/bin/python3')}, async () => {
    const names = makeFiles('sftp', 's', 3)
    const out = path.join(local, 'sftp-down')
    mkdirSync(out, {recursive: true})
    const py = `
import paramiko, os, sys
t = paramiko.Transport(sock=__import__('socket').create_connection(('${G}', 2200), source_address=('127.0.70.31', 0)))
t.connect(username='${USER}', password='${PASSWORD}')
s = paramiko.SFTPClient.from_transport(t)
s.mkdir('/sftp')
for n in sys.argv[1:]:
    s.put(os.path.join('${path.join(local, 'sftp')}', n), '/sftp/' + n)
for n in sys.argv[1:]:
    s.get('/sftp/' + n, os.path.join('${out}', n))
s.rename('/sftp/' + sys.argv[1], '/sftp/renamed.bin')
print(' '.join(sorted(s.listdir('/sftp'))))
print(s.stat('/sftp/renamed.bin').st_size)
t.close()
`
    const r = await run('/usr/bin/python3', ['-c', py, ...names])
    assert.equal(r.code, 0, r.stderr)
    assertSame('sftp', names, out)
    const [listing, size] = r.stdout.trim().split('\n')
    assert.equal(listing, ['renamed.bin', ...names.slice(1)].sort().join(' '))
    assert.equal(Number(size), files.get(`sftp/${names[0]}`)!.length)
    const c = await FtpControl.open(G, GATEWAY_PORT, '127.0.70.31')
    try {
      await c.login()
      assert.match(await c.cmd('XSHA256 /sftp/renamed.bin'), new RegExp(`^213 ${sha(files.get(`sftp/${names[0]}`)!)}`))
    } finally {
      c.close()
    }
    const held = NODES.flatMap((ip) => piecesOn(root, ip, 'sftp'))
    assert.equal(held.length, 3, 'the pieces are on the storage nodes, not the gateway')
  })

  it('stripe gateway: SIGTERM stops the gateway and a storage node cleanly although their links are open', async () => {
    for (const n of [cluster.gateway, cluster.nodes[1]]) {
      await n.stop()
      assert.equal(n.process!.signalCode, null, `${n.bind} needed SIGKILL: ${n.log.slice(-800)}`)
      assert.equal(n.process!.exitCode, 0)
      assert.match(n.log, /\] stopped/)
    }
  })
})
