// FtpService with real curl: ftp://, explicit FTPS (--ssl-reqd), implicit ftps://, passive and active
// data connections, resume, append, listings and file commands.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {hasTool, killAll, run, sha256File, startFtp, type FtpFixture} from '../helpers/ftp-fixture.js'

const HAVE_CURL = hasTool('curl')
if (!HAVE_CURL) console.log('# skipping FTP curl interop tests: curl is not installed (apt-get install curl)')

describe('FtpService with curl', {skip: !HAVE_CURL}, () => {
  let f: FtpFixture
  let tmp: string
  let src: string

  before(async () => {
    f = await startFtp({bind: '127.0.30.1', ftpPort: 20021, ftpsPort: 20990, pasvMin: 20100, pasvMax: 20119})
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ftp-curl-'))
    src = path.join(tmp, 'src.bin')
    await fs.writeFile(src, randomBytes(3 * 1024 * 1024 + 17))
  })
  after(async () => {
    killAll()
    await f?.stop()
    await fs.rm(tmp, {recursive: true, force: true})
  })

  const curl = (...args: string[]) => run('curl', ['-sS', '--fail', '--max-time', '30', ...args])

  for (const [label, scheme, extra] of [
    ['ftp:// passive', 'ftp', []],
    ['explicit FTPS with --ssl-reqd', 'ftp', ['-k', '--ssl-reqd']],
    ['implicit ftps://', 'ftps', ['-k']],
    ['ftp:// active (PORT)', 'ftp', ['--interface', '127.0.30.1', '--ftp-port', '127.0.30.1', '--disable-eprt']],
    ['ftp:// active (EPRT)', 'ftp', ['--interface', '127.0.30.1', '--ftp-port', '127.0.30.1']],
  ] as const) {
    it(`uploads and downloads identical bytes over ${label}`, async () => {
      const name = `/${scheme}-${label.replace(/\W+/g, '-')}.bin`
      const up = await curl(...extra, '-T', src, f.url(scheme, name))
      assert.equal(up.code, 0, up.stderr)
      const out = path.join(tmp, 'down.bin')
      const down = await curl(...extra, '-o', out, f.url(scheme, name))
      assert.equal(down.code, 0, down.stderr)
      assert.equal(await sha256File(out), await sha256File(src))
      assert.equal(await sha256File(path.join(f.home, name)), await sha256File(src))
    })
  }

  it('lists a directory in ls -l format and by name', async () => {
    await fs.mkdir(path.join(f.home, 'listing'), {recursive: true})
    await fs.writeFile(path.join(f.home, 'listing', 'a.txt'), 'hello')
    await fs.mkdir(path.join(f.home, 'listing', 'sub'), {recursive: true})
    const long = await curl(f.url('ftp', '/listing/'))
    assert.equal(long.code, 0, long.stderr)
    assert.match(long.stdout, /^-rw-r--r-- +1 ftp +ftp +5 \w{3} \d\d \d\d:\d\d a\.txt\r?$/m)
    assert.match(long.stdout, /^drwx.* sub\r?$/m)
    const names = await curl('-l', f.url('ftp', '/listing/'))
    assert.deepEqual(names.stdout.split(/\r?\n/).filter(Boolean).sort(), ['a.txt', 'sub'])
  })

  it('resumes a download (REST) and an upload (-C -, APPE)', async () => {
    const full = await fs.readFile(src)
    await fs.writeFile(path.join(f.home, 'resume.bin'), full)
    const part = path.join(tmp, 'partial.bin')
    await fs.writeFile(part, full.subarray(0, 1000))
    const r = await curl('-C', '-', '-o', part, f.url('ftp', '/resume.bin'))
    assert.equal(r.code, 0, r.stderr)
    assert.equal(await sha256File(part), await sha256File(src))
    await fs.writeFile(path.join(f.home, 'append.bin'), full.subarray(0, 12345))
    const a = await curl('-C', '-', '-T', src, f.url('ftp', '/append.bin'))
    assert.equal(a.code, 0, a.stderr)
    assert.equal(await sha256File(path.join(f.home, 'append.bin')), await sha256File(src))
  })

  it('makes, renames and removes files and directories with quote commands', async () => {
    await fs.writeFile(path.join(f.home, 'old.txt'), 'x')
    const r = await curl('-Q', 'MKD made', '-Q', 'RNFR old.txt', '-Q', 'RNTO made/new.txt', f.url('ftp', '/'))
    assert.equal(r.code, 0, r.stderr)
    assert.equal(await fs.readFile(path.join(f.home, 'made', 'new.txt'), 'utf8'), 'x')
    const d = await curl('-Q', 'DELE made/new.txt', '-Q', 'RMD made', f.url('ftp', '/'))
    assert.equal(d.code, 0, d.stderr)
    await assert.rejects(fs.stat(path.join(f.home, 'made')))
  })

  it('reports SIZE and MDTM of a file (curl -I)', async () => {
    await fs.writeFile(path.join(f.home, 'meta.txt'), 'twelve bytes')
    const r = await curl('-I', f.url('ftp', '/meta.txt'))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Content-Length: 12/)
    assert.match(r.stdout, /Last-Modified: /)
  })
})
