// Two formerly flaky FTPS cases, repeated (INTEROP_REPEAT, default 20):
// - wget --ftps-implicit (GnuTLS) saves the control connection's TLS 1.3 session right after the handshake
//   and resumes it on the data connection: the session tickets must precede the 220 greeting;
// - basic-ftp (npm) uploads of zero bytes over TLS: it starts the data connection's TLS handshake before its
//   STOR and ends the upload as soon as it reads the 150.
// The same runs against vsftpd (require_ssl_reuse) are reported for comparison.
// Addresses: 127.0.45.20 (ours), 127.0.45.21 and .22 (vsftpd implicit and explicit).
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, existsSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'
import {test} from 'node:test'
import {Client} from 'basic-ftp'
import {PASSWORD, USER, killAll, run, startFtp} from '../helpers/ftp-fixture.js'
import {needs} from '../helpers/tools.js'
import {needsVsftpd, startVsftpd} from '../helpers/vsftpd.js'

const REPEAT = Number(process.env.INTEROP_REPEAT ?? 20)
const OURS = {bind: '127.0.45.20', ftp: 24701, ftps: 24702, pasvMin: 24710, pasvMax: 24719}
const VS_IMPLICIT = {bind: '127.0.45.21', port: 24721, pasvMin: 24730, pasvMax: 24739}
const VS_EXPLICIT = {bind: '127.0.45.22', port: 24741, pasvMin: 24750, pasvMax: 24759}

async function wgetImplicit(url: string, out: string, expected: Buffer, times: number): Promise<{ok: number; errors: string[]}> {
  let ok = 0
  const errors: string[] = []
  for (let i = 0; i < times; i++) {
    rmSync(out, {force: true})
    const r = await run('wget', ['-q', '-t', '1', '-T', '15', '--no-check-certificate', '--ftps-implicit', url, '-O', out], 30_000)
    if (r.code === 0 && readFileSync(out).equals(expected)) ok++
    else errors.push(`rc ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`)
  }
  return {ok, errors}
}

async function zeroByteUploads(access: {host: string; port: number; user: string; password: string; secure: true | 'implicit'}, dir: string, times: number): Promise<{ok: number; errors: string[]}> {
  let ok = 0
  const errors: string[] = []
  for (let i = 0; i < times; i++) {
    const c = new Client(15_000)
    try {
      await c.access({...access, secureOptions: {rejectUnauthorized: false}})
      await c.uploadFrom(Readable.from([]), `${dir}zero-${access.secure}-${i}.bin`)
      ok++
    } catch (error) {
      errors.push((error as Error).message.split('\n')[0])
    } finally {
      c.close()
    }
  }
  return {ok, errors}
}

test(`wget --ftps-implicit downloads, ${REPEAT} runs (ours and vsftpd)`, {skip: needs('wget') || needsVsftpd()}, async (t) => {
  t.after(() => killAll())
  const work = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-wget-'))
  t.after(() => rmSync(work, {recursive: true, force: true}))
  const f = await startFtp({bind: OURS.bind, ftpPort: OURS.ftp, ftpsPort: OURS.ftps, pasvMin: OURS.pasvMin, pasvMax: OURS.pasvMax})
  t.after(() => f.stop())
  const vs = await startVsftpd({work, bind: VS_IMPLICIT.bind, port: VS_IMPLICIT.port, pasvMin: VS_IMPLICIT.pasvMin, pasvMax: VS_IMPLICIT.pasvMax, tls: 'implicit'})
  t.after(() => vs.stop())
  const body = randomBytes(700 * 1024 + 3)
  writeFileSync(path.join(f.home, 'file.bin'), body)
  writeFileSync(path.join(vs.pub, 'file.bin'), body)
  chmodSync(path.join(vs.pub, 'file.bin'), 0o644)

  const ours = await wgetImplicit(`ftps://${USER}:${PASSWORD}@${OURS.bind}:${OURS.ftps}/file.bin`, path.join(work, 'ours.bin'), body, REPEAT)
  const theirs = await wgetImplicit(`ftps://anonymous:interop@${VS_IMPLICIT.bind}:${VS_IMPLICIT.port}/pub/file.bin`, path.join(work, 'theirs.bin'), body, REPEAT)
  t.diagnostic(`wget --ftps-implicit: ours ${ours.ok}/${REPEAT}, vsftpd ${theirs.ok}/${REPEAT}`)
  // GnuTLS waits its round-trip estimate + 60 ms for the ticket after the handshake; on a machine loaded far
  // beyond its cores a server can miss that window (vsftpd as often as we do: 99/100 each at load 20), so one
  // loss is tolerated. Before the tickets preceded the 220, every run failed.
  assert.ok(ours.ok >= REPEAT - 1, `${ours.ok}/${REPEAT}: ${ours.errors.join('\n')}`)
  // the same window for vsftpd: reported, and only checked for a working setup
  assert.ok(theirs.ok > 0, `the reference never worked (a broken setup?): ${theirs.errors.join('\n')}`)
  if (theirs.errors.length) t.diagnostic(`vsftpd failures: ${theirs.errors.slice(0, 3).join(' | ')}`)
  // explicit FTPS (AUTH TLS) with the same client: the tickets come before the reply that follows AUTH TLS
  const explicit = await run('wget', ['-q', '-t', '1', '-T', '15', '--no-check-certificate', `ftps://${USER}:${PASSWORD}@${OURS.bind}:${OURS.ftp}/file.bin`, '-O', path.join(work, 'explicit.bin')], 30_000)
  assert.equal(explicit.code, 0, explicit.stderr)
  assert.ok(readFileSync(path.join(work, 'explicit.bin')).equals(body))
})

test(`basic-ftp zero-byte uploads over TLS succeed ${REPEAT} of ${REPEAT}, explicit and implicit`, {skip: needsVsftpd()}, async (t) => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-basic-ftp-'))
  t.after(() => rmSync(work, {recursive: true, force: true}))
  const f = await startFtp({bind: OURS.bind, ftpPort: OURS.ftp + 40, ftpsPort: OURS.ftps + 40, pasvMin: OURS.pasvMin + 40, pasvMax: OURS.pasvMax + 40})
  t.after(() => f.stop())
  const access = {host: OURS.bind, user: USER, password: PASSWORD}
  const explicit = await zeroByteUploads({...access, port: OURS.ftp + 40, secure: true}, '', REPEAT)
  const implicit = await zeroByteUploads({...access, port: OURS.ftps + 40, secure: 'implicit'}, '', REPEAT)
  assert.equal(explicit.ok, REPEAT, explicit.errors.join('\n'))
  assert.equal(implicit.ok, REPEAT, implicit.errors.join('\n'))
  for (let i = 0; i < REPEAT; i++) {
    for (const mode of ['true', 'implicit']) assert.equal(statSync(path.join(f.home, `zero-${mode}-${i}.bin`)).size, 0)
  }
  // a non-empty upload and its download over the same client, for good measure
  const c = new Client(15_000)
  try {
    await c.access({...access, port: OURS.ftp + 40, secure: true, secureOptions: {rejectUnauthorized: false}})
    const body = randomBytes(300_000)
    await c.uploadFrom(Readable.from([body]), 'some.bin')
    assert.ok(readFileSync(path.join(f.home, 'some.bin')).equals(body))
  } finally {
    c.close()
  }
  // vsftpd with the same client: reported, not asserted (basic-ftp ends an empty upload before its handshake
  // finished, which vsftpd cannot take either)
  if (existsSync('/usr/sbin/vsftpd')) {
    const vs = await startVsftpd({work, bind: VS_EXPLICIT.bind, port: VS_EXPLICIT.port, pasvMin: VS_EXPLICIT.pasvMin, pasvMax: VS_EXPLICIT.pasvMax, tls: 'explicit'})
    t.after(() => vs.stop())
    const theirs = await zeroByteUploads({host: VS_EXPLICIT.bind, port: VS_EXPLICIT.port, user: 'anonymous', password: 'interop', secure: true}, 'pub/', Math.min(REPEAT, 5))
    t.diagnostic(`basic-ftp zero-byte uploads: ours explicit ${explicit.ok}/${REPEAT}, implicit ${implicit.ok}/${REPEAT}; vsftpd explicit ${theirs.ok}/${Math.min(REPEAT, 5)} (${theirs.errors[0] ?? 'no error'})`)
  }
})
