// tnftp's abort after Ctrl-C (SIGINT during a throttled `get`): it sends "IAC IP IAC" with MSG_OOB (the kernel
// takes the urgent byte, the second IAC, out of the stream), then "DM ABOR\r\n" inline (RFC 959 4.1.3). The
// Telnet bytes must be stripped, the transfer answered 426 and the ABOR 226 (225 with nothing to abort), and
// the session stay in step. The same script runs against vsftpd. A relay in front of our server records the
// bytes it reads (the kernel strips the urgent byte from what the relay reads, as from what a server reads
// directly); vsftpd is reached directly, as it watches for the urgent data itself (SIGURG), which a relay
// would not pass on.
// Addresses: 127.0.45.40 (ours and its relay), 127.0.45.41 (vsftpd).
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {connect, createServer, type Server} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {PASSWORD, USER, startFtp} from '../helpers/ftp-fixture.js'
import {needs} from '../helpers/tools.js'
import {needsVsftpd, startVsftpd} from '../helpers/vsftpd.js'

const OURS = {bind: '127.0.45.40', ftp: 24801, ftps: 24802, pasvMin: 24810, pasvMax: 24819, relay: 24803}
const THEIRS = {bind: '127.0.45.41', port: 24821, pasvMin: 24830, pasvMax: 24839}
const SIZE = 20 * 1024 * 1024

/** A TCP relay to `port` on `host` that records what the client sent (as the server reads it). */
async function relay(host: string, listenPort: number, port: number): Promise<{server: Server; sent: () => Buffer}> {
  const chunks: Buffer[] = []
  const server = createServer((client) => {
    const upstream = connect({host, port})
    client.on('data', (d: Buffer) => {
      chunks.push(d)
      upstream.write(d)
    })
    upstream.pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('error', () => {})
    upstream.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(listenPort, host, resolve))
  return {server, sent: () => Buffer.concat(chunks)}
}

/** tnftp reading commands from stdin; SIGINT 300 ms after the 150 of the throttled get. */
function tnftpAbort(host: string, port: number, user: string, password: string, file: string): Promise<{out: string; code: number | null}> {
  return new Promise((resolve) => {
    const child = spawn('tnftp', ['-n', '-v'], {stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let interrupted = false
    const deadline = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const onOutput = (d: Buffer) => {
      out += d.toString('latin1')
      if (!interrupted && /^150 /m.test(out)) {
        interrupted = true
        setTimeout(() => child.kill('SIGINT'), 300)
      }
    }
    child.stdout.on('data', onOutput)
    child.stderr.on('data', onOutput)
    child.on('close', (code) => {
      clearTimeout(deadline)
      resolve({out, code})
    })
    child.stdin.end(`open ${host} ${port}\nuser ${user} ${password}\nbinary\nrate get 200000\nget ${file} /dev/null\npwd\nquote ABOR\nquit\n`)
  })
}

test('tnftp abort (IAC IP, urgent IAC DM, ABOR): 426 then 226, like vsftpd no 5xx, session in step', {skip: needs('tnftp') || needsVsftpd()}, async (t) => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-tnftp-'))
  t.after(() => rmSync(work, {recursive: true, force: true}))
  const f = await startFtp({bind: OURS.bind, ftpPort: OURS.ftp, ftpsPort: OURS.ftps, pasvMin: OURS.pasvMin, pasvMax: OURS.pasvMax})
  t.after(() => f.stop())
  const vs = await startVsftpd({work, bind: THEIRS.bind, port: THEIRS.port, pasvMin: THEIRS.pasvMin, pasvMax: THEIRS.pasvMax})
  t.after(() => vs.stop())
  writeFileSync(path.join(f.home, 'big.bin'), Buffer.alloc(SIZE))
  writeFileSync(path.join(vs.pub, 'big.bin'), Buffer.alloc(SIZE))
  chmodSync(path.join(vs.pub, 'big.bin'), 0o644)
  const ourRelay = await relay(OURS.bind, OURS.relay, OURS.ftp)
  t.after(() => ourRelay.server.close())

  const ours = await tnftpAbort(OURS.bind, OURS.relay, USER, PASSWORD, 'big.bin')
  const theirs = await tnftpAbort(THEIRS.bind, THEIRS.port, 'anonymous', 'interop', 'pub/big.bin')
  t.diagnostic(`ours:\n${ours.out}\nvsftpd:\n${theirs.out}`)

  // what the server read: IAC IP, then DM (its IAC went out of band) right before ABOR
  const sent = ourRelay.sent()
  const ip = sent.indexOf(Buffer.from([0xff, 0xf4]))
  const abor = sent.indexOf(Buffer.from('\xf2ABOR\r\n', 'latin1'))
  assert.ok(ip >= 0 && abor > ip, `tnftp sent ${JSON.stringify(sent.toString('latin1').slice(-40))}`)
  for (const [who, r] of [['ours', ours], ['vsftpd', theirs]] as const) {
    assert.equal(r.code, 0, `${who}: ${r.out}`)
    assert.match(r.out, /receive aborted/, `${who}: the transfer was interrupted`)
    assert.doesNotMatch(r.out, /^5\d\d /m, `${who}: no 5xx (a Telnet byte left in the verb gave "502 Command \ufffdABOR")`)
    assert.match(r.out, /Remote directory: \//, `${who}: the pwd after the abort gets its own answer`)
    // the RETR's final reply (426 when stopped, 226 when its last bytes had left), then the ABOR's own
    const after = r.out.slice(r.out.indexOf('receive aborted')).match(/^\d{3} /gm) ?? []
    assert.match(after[0] ?? '', /^(426|226) /, `${who}: ${r.out}`)
    assert.match(after[1] ?? '', /^(225|226) /, `${who}: ${r.out}`)
    // the standalone ABOR has nothing to abort
    assert.match(r.out, /^225 /m, `${who}: ${r.out}`)
  }
})
