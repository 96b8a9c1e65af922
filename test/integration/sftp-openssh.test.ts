import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir, readdir, readFile, stat, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {test} from 'node:test'
import {missingTools, startFixture, until, killGroup} from '../helpers/sftp-fixture.js'
import {partSize, visibleNames} from '../helpers/parts.js'

const skip = missingTools('sftp', 'ssh-keygen')

test('sftp: put, get, ls, rename, chmod, mkdir, rmdir, rm with OpenSSH sftp -b', {skip}, async (t) => {
  const f = await startFixture(t)
  const local = path.join(f.dir, 'local.bin')
  const data = randomBytes(3 * 1024 * 1024 + 17)
  await writeFile(local, data)
  const back = path.join(f.dir, 'back.bin')
  const r = await f.sftp([
    'mkdir docs', `put ${local} docs/a.bin`, 'ls -l docs', 'rename docs/a.bin docs/b.bin', 'chmod 600 docs/b.bin',
    `get docs/b.bin ${back}`, 'mkdir empty', 'rmdir empty', 'df', '',
  ].join('\n'))
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /a\.bin/)
  assert.deepEqual(await readFile(back), data)
  assert.deepEqual(await readFile(path.join(f.home, 'docs/b.bin')), data)
  assert.equal((await stat(path.join(f.home, 'docs/b.bin'))).mode & 0o777, 0o600)
  assert.deepEqual((await readdir(f.home)).sort(), ['docs'])
  const rm = await f.sftp('rm docs/b.bin\nrmdir docs\n')
  assert.equal(rm.code, 0, rm.stderr)
  assert.deepEqual(await readdir(f.home), [])
})

test('sftp: reget and reput resume transfers', {skip}, async (t) => {
  const f = await startFixture(t)
  const data = randomBytes(2 * 1024 * 1024)
  await mkdir(f.home, {recursive: true})
  await writeFile(path.join(f.home, 'remote.bin'), data)
  const local = path.join(f.dir, 'partial.bin')
  await writeFile(local, data.subarray(0, 700_000))
  // A killed upload leaves its part file; reput continues it.
  const source = path.join(f.dir, 'source.bin')
  await writeFile(source, data)
  await writeFile(path.join(f.home, '.up.bin.ftpcluster-part'), data.subarray(0, 1_000_000))
  const r = await f.sftp(`reget remote.bin ${local}\nls -l\nreput ${source} up.bin\n`)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await readFile(local), data)
  assert.match(r.stdout, /up\.bin/) // the partial upload is listed under its final name with the part's size
  assert.deepEqual(await readFile(path.join(f.home, 'up.bin')), data)
  assert.deepEqual((await readdir(f.home)).sort(), ['remote.bin', 'up.bin'])
})

test('sftp: traversal, absolute paths and symlinks out of the home are refused', {skip}, async (t) => {
  const f = await startFixture(t)
  await mkdir(f.home, {recursive: true})
  await writeFile(path.join(f.storage, 'secret.txt'), 'secret')
  await mkdir(path.join(f.dir, 'outside'))
  await writeFile(path.join(f.dir, 'outside', 'o.txt'), 'outside')
  await symlink(path.join(f.dir, 'outside'), path.join(f.home, 'link'))
  const stolen = path.join(f.dir, 'stolen')
  for (const p of ['../secret.txt', '../../storage/secret.txt', '/../secret.txt', '%2e%2e/secret.txt', 'link/o.txt', `${f.storage}/secret.txt`]) {
    const r = await f.sftp(`get ${p} ${stolen}\n`)
    assert.notEqual(r.code, 0, `get ${p} must fail`)
    await assert.rejects(stat(stolen))
  }
  const src = path.join(f.dir, 'x.txt')
  await writeFile(src, 'x')
  const w = await f.sftp(`-put ${src} link/new.txt\n-mkdir link/d\n-chmod 777 link/o.txt\n-rename link/o.txt mine.txt\nput ${src} ../../escape.txt\ncd ../../..\npwd\n`)
  assert.equal(w.code, 0, w.stderr)
  assert.match(w.stdout, /Remote working directory: \/\n/)
  assert.deepEqual(await readdir(path.join(f.dir, 'outside')), ['o.txt'])
  assert.equal((await stat(path.join(f.dir, 'outside', 'o.txt'))).mode & 0o777, 0o644)
  await stat(path.join(f.home, 'escape.txt')) // ".." stops at the home, as in a chroot
  assert.deepEqual((await readdir(f.storage)).sort(), ['alice', 'secret.txt'])
})

test('sftp: a read-only user cannot upload, delete or rename', {skip}, async (t) => {
  const f = await startFixture(t)
  await mkdir(f.home, {recursive: true})
  await writeFile(path.join(f.home, 'f.txt'), 'keep')
  const src = path.join(f.dir, 'x.txt')
  await writeFile(src, 'x')
  const r = await f.sftp(`-put ${src} y.txt\n-rm f.txt\n-rename f.txt g.txt\n-mkdir d\nls\n`, {user: 'reader'})
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /ermission denied/)
  assert.deepEqual(await readdir(f.home), ['f.txt'])
})

test('sftp: a killed upload leaves nothing under the final name, can be resumed, and does not block the next', {skip}, async (t) => {
  const f = await startFixture(t)
  const data = randomBytes(24 * 1024 * 1024)
  const src = path.join(f.dir, 'big.bin')
  await writeFile(src, data)
  // -l throttles the client (Kbit/s) so the kill lands mid-transfer.
  const args = ['-b', '-', '-l', '16000', '-P', String(f.port), '-i', f.key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', 'alice@127.0.20.1']
  const child = f.spawnTracked('sftp', args, `put ${src} big.bin\n`)
  await until(async () => (await partSize(f.home, 'big.bin')) > 1024 * 1024, 20_000, 'the part file to grow')
  await assert.rejects(stat(path.join(f.home, 'big.bin')))
  assert.deepEqual(await visibleNames(f.home), [])
  killGroup(child)
  await until(() => f.service.sessionCount === 0, 10_000, 'the server to notice the disconnect')
  await assert.rejects(stat(path.join(f.home, 'big.bin')))
  const r = await f.sftp(`reput ${src} big.bin\n`)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(await readFile(path.join(f.home, 'big.bin')), data)
  const again = await f.sftp(`put ${src} big.bin\n`)
  assert.equal(again.code, 0, again.stderr)
  assert.deepEqual(await readdir(f.home), ['big.bin'])
})

test('sftp: a client with its own default ciphers gets chacha20-poly1305 (not aes-ctr + HMAC, the dearest here); aes-gcm on request', {skip}, async (t) => {
  const f = await startFixture(t)
  const plain = await f.sftp('pwd\n', {extra: ['-v']})
  assert.equal(plain.code, 0, plain.stderr)
  assert.match(plain.stderr, /cipher: chacha20-poly1305@openssh\.com/)
  const gcm = await f.sftp('pwd\n', {extra: ['-v', '-c', 'aes128-gcm@openssh.com']})
  assert.equal(gcm.code, 0, gcm.stderr)
  assert.match(gcm.stderr, /cipher: aes128-gcm@openssh\.com/)
})
