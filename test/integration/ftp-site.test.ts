// SITE CHMOD, SITE UTIME and MFMT: a user with the chmod right changes mode bits and times over FTP as over
// SFTP; one without it is refused. Driven by curl's --quote. Addresses: 127.0.32.0/24.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {test} from 'node:test'
import {parseTimeVal} from '../../src/daemon/ftp/site-commands.js'
import {PASSWORD, USER, startFtp} from '../helpers/ftp-fixture.js'
import {needs} from '../helpers/tools.js'

test('parseTimeVal reads RFC 3659 time-vals and refuses impossible dates', () => {
  assert.equal(parseTimeVal('20200102030405')?.toISOString(), '2020-01-02T03:04:05.000Z')
  assert.equal(parseTimeVal('20200102030405.25')?.toISOString(), '2020-01-02T03:04:05.250Z')
  assert.equal(parseTimeVal('20201302030405'), null)
  assert.equal(parseTimeVal('2020-01-02'), null)
})

test('SITE CHMOD, SITE UTIME and MFMT over FTP', {skip: needs('curl')}, async (t) => {
  const f = await startFtp({bind: '127.0.32.1', ftpPort: 20321, ftpsPort: 20322, pasvMin: 20330, pasvMax: 20339})
  t.after(() => f.stop())
  const file = path.join(f.home, 'f.txt')
  writeFileSync(file, 'hello\n')
  // Asynchronous: the server runs in this process, a synchronous spawn would block it.
  const quote = (...cmds: string[]) => new Promise<{status: number | null; stderr: string}>((resolve) => {
    const child = spawn('curl', ['-sS', '--fail', '--max-time', '20', ...cmds.flatMap((c) => ['-Q', c]), '-u', `${USER}:${PASSWORD}`, `ftp://127.0.32.1:20321/`], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (status) => resolve({status, stderr}))
  })
  const ok = await quote('SITE CHMOD 640 f.txt', 'MFMT 20200102030405 f.txt')
  assert.equal(ok.status, 0, ok.stderr)
  assert.equal(statSync(file).mode & 0o777, 0o640)
  assert.equal(statSync(file).mtime.toISOString(), '2020-01-02T03:04:05.000Z')
  const utime = await quote('SITE UTIME f.txt 20210101000000 20210203040506 20210101000000 UTC')
  assert.equal(utime.status, 0, utime.stderr)
  assert.equal(statSync(file).mtime.toISOString(), '2021-02-03T04:05:06.000Z')
  const bad = await quote('SITE CHMOD 9x9 f.txt')
  assert.notEqual(bad.status, 0)
  assert.match(bad.stderr, /501/)
  const escape = await quote('SITE CHMOD 600 ../../etc/passwd')
  assert.notEqual(escape.status, 0, 'no way out of the jail')
  await f.store.change((c) => void (c.users[0].permissions = c.users[0].permissions.filter((p) => p !== 'chmod')), {by: 'test', from: 'local', summary: 'no chmod'})
  const refused = await quote('SITE CHMOD 600 f.txt')
  assert.notEqual(refused.status, 0)
  assert.match(refused.stderr, /550/)
  assert.equal(statSync(file).mode & 0o777, 0o640)
})
