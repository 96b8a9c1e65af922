// Python's ftplib.FTP_TLS (Debian's /usr/bin/python3) against our FTPS and against vsftpd with
// require_ssl_reuse: stock ftplib does not resume the control connection's TLS session on data connections,
// so both refuse its transfers; the refusal must be the data command's own reply (522 in order, no desync).
// With a subclass that passes session=self.sock.session, transfers work on both; with
// sites.files.ftp.requireTlsSessionReuse false, stock ftplib works on ours.
// Addresses: 127.0.45.10 (ours), 127.0.45.11 (vsftpd).
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {PASSWORD, USER, killAll, run, startFtp} from '../helpers/ftp-fixture.js'
import {needsVsftpd, startVsftpd} from '../helpers/vsftpd.js'

const PYTHON = '/usr/bin/python3'
const OURS = {bind: '127.0.45.10', ftp: 24601, ftps: 24602, pasvMin: 24610, pasvMax: 24619}
const THEIRS = {bind: '127.0.45.11', port: 24621, pasvMin: 24630, pasvMax: 24639}
const skip = existsSync(PYTHON) ? false : `skipped: ${PYTHON} missing (apt-get install python3; .ci/run installs it)`

/** Runs each step and prints one JSON line per step: {step, ok, value | error}. */
const SCRIPT = String.raw`
import ftplib, io, json, ssl, sys
host, port, user, password, prefix, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]

class ReusingFTP_TLS(ftplib.FTP_TLS):
    """Resumes the control connection's TLS session on every data connection."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = (ReusingFTP_TLS if mode == 'reuse' else ftplib.FTP_TLS)(context=ctx, timeout=15)
data = bytes(range(256)) * 1200
def step(name, fn):
    try:
        print(json.dumps({'step': name, 'ok': True, 'value': fn()}), flush=True)
    except Exception as e:
        print(json.dumps({'step': name, 'ok': False, 'error': type(e).__name__ + ': ' + str(e)}), flush=True)
def retr():
    got = bytearray()
    f.retrbinary('RETR ' + prefix + 'up.bin', got.extend)
    return bytes(got) == data
step('connect', lambda: f.connect(host, port))
step('login', lambda: f.login(user, password))
step('prot_p', lambda: f.prot_p())
step('pwd', lambda: f.pwd())
step('nlst', lambda: f.nlst(prefix or '.'))
step('pwd-after-nlst', lambda: f.pwd())
step('stor', lambda: f.storbinary('STOR ' + prefix + 'up.bin', io.BytesIO(data)))
step('pwd-after-stor', lambda: f.pwd())
step('stor-empty', lambda: f.storbinary('STOR ' + prefix + 'empty.bin', io.BytesIO(b'')))
step('retr-same', retr)
step('pwd-end', lambda: f.pwd())
`

interface Step {
  step: string
  ok: boolean
  value?: unknown
  error?: string
}

async function ftplib(script: string, args: string[]): Promise<Map<string, Step>> {
  const r = await run(PYTHON, [script, ...args], 60_000)
  const steps = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Step)
  assert.ok(steps.length >= 10, `ftplib ran ${steps.length} steps; stderr: ${r.stderr}`)
  return new Map(steps.map((s) => [s.step, s]))
}

test('ftplib FTP_TLS against ours and vsftpd: stock gets its 522 in order, with session reuse it works', {skip: skip || needsVsftpd()}, async (t) => {
  t.after(() => killAll())
  const work = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-ftplib-'))
  t.after(() => rmSync(work, {recursive: true, force: true}))
  const script = path.join(work, 'ftplib_steps.py')
  writeFileSync(script, SCRIPT)
  const f = await startFtp({bind: OURS.bind, ftpPort: OURS.ftp, ftpsPort: OURS.ftps, pasvMin: OURS.pasvMin, pasvMax: OURS.pasvMax})
  t.after(() => f.stop())
  const vs = await startVsftpd({work, bind: THEIRS.bind, port: THEIRS.port, pasvMin: THEIRS.pasvMin, pasvMax: THEIRS.pasvMax, tls: 'explicit'})
  t.after(() => vs.stop())
  const ours = [OURS.bind, String(OURS.ftp), USER, PASSWORD, '']
  const theirs = [THEIRS.bind, String(THEIRS.port), 'anonymous', 'interop', 'pub/']

  // --- stock ftplib ---
  const o = await ftplib(script, [...ours, 'stock'])
  const v = await ftplib(script, [...theirs, 'stock'])
  for (const [who, s] of [['ours', o], ['vsftpd', v]] as const) {
    assert.equal(s.get('pwd')?.value, '/', `${who}: ${JSON.stringify(s.get('pwd'))}`)
    // the refusal is the data command's own reply: ftplib raises error_perm with the 522 on nlst itself
    assert.match(s.get('nlst')?.error ?? '', /^error_perm: 522 /, `${who}: ${JSON.stringify(s.get('nlst'))}`)
  }
  assert.match(o.get('nlst')!.error!, /session=self\.sock\.session.*requireTlsSessionReuse false/, 'the reply names the cause and both fixes')
  // ours keeps the session usable and in step: each later command gets its own reply
  assert.equal(o.get('pwd-after-nlst')?.value, '/', JSON.stringify(o.get('pwd-after-nlst')))
  assert.match(o.get('stor')?.error ?? '', /^error_perm: 522 /, 'an upload is refused in order too (the server read and dropped it)')
  assert.equal(o.get('pwd-after-stor')?.value, '/', JSON.stringify(o.get('pwd-after-stor')))
  assert.match(o.get('stor-empty')?.error ?? '', /^error_perm: 522 /)
  assert.equal(o.get('pwd-end')?.value, '/')
  assert.ok(!existsSync(path.join(f.home, 'up.bin')) && !existsSync(path.join(f.home, 'empty.bin')), 'a refused upload leaves no file')
  // vsftpd answers the same 522 and then closes the control connection (ftplib's next pwd gets EOF)
  t.diagnostic(`vsftpd after its 522: pwd → ${JSON.stringify(v.get('pwd-after-nlst'))}`)

  // --- ftplib reusing the session ---
  for (const [who, args] of [['ours', ours], ['vsftpd', theirs]] as const) {
    const s = await ftplib(script, [...args, 'reuse'])
    for (const name of ['nlst', 'stor', 'stor-empty', 'retr-same', 'pwd-end']) assert.ok(s.get(name)?.ok, `${who} ${name}: ${JSON.stringify(s.get(name))}`)
    assert.match(String(s.get('stor')?.value), /^226/, who)
    assert.equal(s.get('retr-same')?.value, true, `${who}: the download is the upload`)
  }

  // --- the compatibility switch, applied live: stock ftplib works ---
  await f.store.change((c) => {
    c.sites.files.ftp.requireTlsSessionReuse = false
  }, {by: 'test', from: 'local', summary: 'allow data connections without TLS session reuse'})
  const relaxed = await ftplib(script, [...ours, 'stock'])
  for (const name of ['nlst', 'stor', 'stor-empty', 'retr-same', 'pwd-end']) assert.ok(relaxed.get(name)?.ok, `${name}: ${JSON.stringify(relaxed.get(name))}`)
  assert.equal(relaxed.get('retr-same')?.value, true)
})
