// FtpService with real lftp: mirror a tree of 200 files in nested folders up and down, over plain FTP and
// over FTPS with PROT P (data TLS must resume the control session), checksums identical.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {PASSWORD, USER, hasTool, killAll, run, sha256File, startFtp, type FtpFixture} from '../helpers/ftp-fixture.js'

const HAVE_LFTP = hasTool('lftp')
if (!HAVE_LFTP) console.log('# skipping FTP lftp mirror tests: lftp is not installed (apt-get install lftp)')

async function makeTree(root: string, files: number): Promise<void> {
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${i % 5}`, `e${i % 3}`, i % 2 ? 'f' : '')
    await fs.mkdir(dir, {recursive: true})
    await fs.writeFile(path.join(dir, `file-${i}.bin`), randomBytes(i * 523 % 70_000))
  }
}

async function checksums(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, {withFileTypes: true})) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) await walk(p)
      else out.set(path.relative(root, p), await sha256File(p))
    }
  }
  await walk(root)
  return out
}

describe('FtpService with lftp mirror', {skip: !HAVE_LFTP}, () => {
  let f: FtpFixture
  let tmp: string

  before(async () => {
    f = await startFtp({bind: '127.0.30.1', ftpPort: 20031, ftpsPort: 20991, pasvMin: 20120, pasvMax: 20139})
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ftp-lftp-'))
    await makeTree(path.join(tmp, 'src'), 200)
  })
  after(async () => {
    killAll()
    await f?.stop()
    await fs.rm(tmp, {recursive: true, force: true})
  })

  const settings = 'set ssl:verify-certificate no; set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes'
  for (const [label, url, tls] of [
    ['plain FTP', 'ftp://127.0.30.1:20031', 'set ftp:ssl-allow no'],
    ['explicit FTPS (PROT P)', 'ftp://127.0.30.1:20031', 'set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ftp:ssl-protect-list yes'],
    ['implicit FTPS', 'ftps://127.0.30.1:20991', 'set ftp:ssl-protect-data yes'],
  ] as const) {
    it(`mirrors 200 files up and down with identical checksums over ${label}`, async () => {
      const remote = `/tree-${label.replace(/\W+/g, '-')}`
      const back = path.join(tmp, `back-${label.replace(/\W+/g, '-')}`)
      const script = `${settings}; ${tls}; open -u ${USER},${PASSWORD} ${url}; mirror -R --parallel=4 ${path.join(tmp, 'src')} ${remote}; mirror --parallel=4 ${remote} ${back}; quit`
      const r = await run('lftp', ['-c', script], 120_000)
      assert.equal(r.code, 0, r.stderr + r.stdout)
      const want = await checksums(path.join(tmp, 'src'))
      assert.equal(want.size, 200)
      assert.deepEqual(await checksums(path.join(f.home, remote)), want)
      assert.deepEqual(await checksums(back), want)
    })
  }
})
