import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdir, readdir, readFile, rename, stat, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {test} from 'node:test'
import {isInside} from '../../src/daemon/session/beneath.js'
import {LocalFileSession} from '../../src/daemon/session/local-session.js'
import {FileError} from '../../src/daemon/session/types.js'
import {sftpStatusFor} from '../../src/daemon/sftp/sftp-status.js'
import {fileErrorReply} from '../../src/daemon/ftp/reply-codes.js'
import {checkStorageSeparate} from '../../src/config/storage-overlap.js'
import {makeUser, tempStorage} from './session-helpers.js'

async function rejectsKind(p: Promise<unknown>, kind: string): Promise<FileError> {
  let caught: unknown
  await assert.rejects(p, (e: unknown) => {
    caught = e
    return e instanceof FileError && e.kind === kind
  })
  return caught as FileError
}

test('isInside: the root "/" contains every absolute path; prefixes of names do not count', () => {
  assert.ok(isInside('/', '/etc/passwd'))
  assert.ok(isInside('/', '/'))
  assert.ok(isInside('/srv/a', '/srv/a/b'))
  assert.ok(!isInside('/srv/a', '/srv/ab'))
  assert.ok(!isInside('/srv/a', '/srv'))
})

test('beneath: symlinks that stay inside the home work, relative and absolute, through several levels', async (t) => {
  const storage = await tempStorage(t)
  const s = await LocalFileSession.open(storage, makeUser())
  await mkdir(path.join(s.root, 'a/b/c'), {recursive: true})
  await writeFile(path.join(s.root, 'a/b/c/f'), 'deep')
  await symlink('a/b', path.join(s.root, 'rel'))
  await symlink(path.join(s.root, 'a/b/c'), path.join(s.root, 'abs'))
  await symlink('../../a/b/c/f', path.join(s.root, 'a/b/up'))
  await symlink('loop2', path.join(s.root, 'loop1'))
  await symlink('loop1', path.join(s.root, 'loop2'))
  assert.equal((await s.stat('/rel/c/f')).size, 4)
  assert.equal((await s.stat('/abs/f')).size, 4)
  const h = await s.openRead('/a/b/up')
  assert.equal(h.size, 4)
  await h.close()
  await rejectsKind(s.stat('/loop1'), 'invalid-path')
  const up = await s.openWrite('/rel/new')
  await up.commit()
  await stat(path.join(s.root, 'a/b/new'))
  await s.chmod('/abs/f', 0o600)
  assert.equal((await stat(path.join(s.root, 'a/b/c/f'))).mode & 0o777, 0o600)
})

test('beneath: a relative link climbing out of the home with ".." is refused', async (t) => {
  const storage = await tempStorage(t)
  await writeFile(path.join(storage, 'secret'), 'x')
  const s = await LocalFileSession.open(storage, makeUser())
  await symlink('../secret', path.join(s.root, 'up'))
  await rejectsKind(s.openRead('/up'), 'permission')
  await rejectsKind(s.chmod('/up', 0o777), 'permission')
})

test('beneath: a home whose real path is "/" serves the paths below it (root containment)', async (t) => {
  const storage = await tempStorage(t)
  await mkdir(path.join(storage, 'x'))
  await writeFile(path.join(storage, 'x/f'), 'hello')
  const s = await LocalFileSession.open('/', makeUser(undefined, '/'))
  assert.equal(s.root, '/')
  assert.equal((await s.stat(path.join(storage, 'x/f'))).size, 5)
  const names = (await s.list(path.join(storage, 'x'))).map((e) => e.name)
  assert.deepEqual(names, ['f'])
  // an absolute link anywhere is inside a home of "/"
  await symlink(path.join(storage, 'x/f'), path.join(storage, 'l'))
  assert.equal((await s.stat(path.join(storage, 'l'))).size, 5)
})

test('beneath: the top-level ".stripe" of the storage root is hidden and cannot be created', async (t) => {
  const storage = await tempStorage(t)
  await mkdir(path.join(storage, '.stripe'))
  await writeFile(path.join(storage, '.stripe/piece'), 'p')
  const s = await LocalFileSession.open(storage, makeUser(undefined, '/'))
  assert.deepEqual((await s.list('/')).map((e) => e.name), [])
  await rejectsKind(s.stat('/.stripe'), 'not-found')
  await rejectsKind(s.openRead('/.stripe/piece'), 'not-found')
  await rejectsKind(s.openWrite('/.stripe/piece'), 'not-found')
  await rejectsKind(s.remove('/.stripe/piece'), 'not-found')
  await rejectsKind(s.rename('/.stripe', '/x'), 'invalid-path')
  await mkdir(path.join(storage, 'd'))
  await rejectsKind(s.rename('/d', '/.stripe'), 'invalid-path')
  await symlink(path.join(storage, '.stripe'), path.join(storage, 'd/l'))
  await rejectsKind(s.list('/d/l'), 'not-found')
  // below the top it is an ordinary name
  await s.mkdir('/d/.stripe')
  assert.deepEqual(await readdir(path.join(storage, '.stripe')), ['piece'])
  await rejectsKind(LocalFileSession.open(storage, makeUser(undefined, '/.stripe/bob')), 'not-found')
})

test('status mapping: name too long, invalid argument and is a directory have their own SFTP status and FTP reply', async (t) => {
  const storage = await tempStorage(t)
  const s = await LocalFileSession.open(storage, makeUser())
  const long = await rejectsKind(s.mkdir('/' + 'n'.repeat(300)), 'name-too-long')
  await s.mkdir('/d')
  const into = await rejectsKind(s.rename('/d', '/d/inner'), 'invalid-argument')
  const isDir = await rejectsKind(s.openRead('/d'), 'is-directory')
  const denied = await rejectsKind(LocalFileSession.open(storage, makeUser(['list'])).then((r) => r.mkdir('/x')), 'permission')
  const codes = [long, into, isDir, denied].map((e) => sftpStatusFor(e))
  assert.deepEqual(codes.map((c) => c.code), [5, 5, 4, 3])
  assert.match(codes[0].message, /file name too long/)
  assert.match(codes[1].message, /invalid argument/)
  assert.match(codes[2].message, /is a directory/)
  assert.deepEqual([long, into, isDir, denied].map((e) => fileErrorReply(e)), [
    {code: 553, text: 'File name too long'},
    {code: 550, text: 'Invalid argument'},
    {code: 550, text: 'Is a directory'},
    {code: 550, text: 'Permission denied'},
  ])
})

test('uploads: a second upload of a name is busy while a lock is live; a dead lock is taken over after its lease', async (t) => {
  const storage = await tempStorage(t)
  const a = await LocalFileSession.open(storage, makeUser(), {nodeId: 'nodeA'})
  const b = await LocalFileSession.open(storage, makeUser(), {nodeId: 'nodeB'})
  const up = await a.openWrite('/f')
  const busy = await rejectsKind(b.openWrite('/f'), 'busy')
  assert.match(busy.message, /node nodeA/)
  await up.abort(true)
  // A lock left by a dead node: fresh → busy; older than the lease → taken over.
  await writeFile(path.join(a.root, '.g.ftpcluster-lock'), JSON.stringify({node: 'dead'}))
  await rejectsKind(b.openWrite('/g'), 'busy')
  const { utimes } = await import('node:fs/promises')
  await utimes(path.join(a.root, '.g.ftpcluster-lock'), new Date(0), new Date(0))
  const again = await b.openWrite('/g')
  await again.commit()
  assert.deepEqual((await readdir(a.root)).filter((n) => n.startsWith('.g')), [])
})

test('uploads: resume continues another node\'s kept part; a restart offset past it is refused', async (t) => {
  const storage = await tempStorage(t)
  const a = await LocalFileSession.open(storage, makeUser(), {nodeId: 'nodeA'})
  const b = await LocalFileSession.open(storage, makeUser(), {nodeId: 'nodeB'})
  const up = await a.openWrite('/r')
  const {writeSync} = await import('node:fs')
  writeSync(up.fd, Buffer.from('01234'), 0, 5, 0)
  await up.abort(true)
  assert.equal((await b.stat('/r')).size, 5)
  await rejectsKind(b.openWrite('/r', {offset: 9}), 'invalid-argument')
  const next = await b.openWrite('/r', {offset: 5})
  assert.equal(next.startOffset, 5)
  writeSync(next.fd, Buffer.from('56789'), 0, 5, 5)
  await next.commit()
  assert.equal(await readFile(path.join(a.root, 'r'), 'utf8'), '0123456789')
})

test('storage overlap: a storage containing the data directory, or inside it, is refused; files/ is allowed', async (t) => {
  const root = await tempStorage(t)
  const data = path.join(root, 'data')
  await mkdir(path.join(data, 'files'), {recursive: true})
  await mkdir(path.join(data, 'config'))
  await symlink(data, path.join(root, 'alias'))
  await assert.rejects(checkStorageSeparate(data, root), /contains the node's data directory/)
  await assert.rejects(checkStorageSeparate(data, data), /contains the node's data directory/)
  await assert.rejects(checkStorageSeparate(data, path.join(root, 'alias')), /contains the node's data directory/)
  await assert.rejects(checkStorageSeparate(data, path.join(data, 'config')), /inside the node's data directory/)
  await assert.rejects(checkStorageSeparate(path.join(root, 'alias'), path.join(data, 'config')), /inside the node's data directory/)
  await checkStorageSeparate(data, path.join(data, 'files'))
  await mkdir(path.join(root, 'elsewhere'))
  await checkStorageSeparate(data, path.join(root, 'elsewhere'))
})

test('beneath: a directory swapped with an outside symlink in a loop never lets a read, write or chmod out', async (t) => {
  const storage = await tempStorage(t)
  const outside = path.join(storage, 'outside')
  await mkdir(outside)
  await writeFile(path.join(outside, 'f'), 'SECRET')
  const s = await LocalFileSession.open(storage, makeUser())
  await mkdir(path.join(s.root, 'd'))
  await writeFile(path.join(s.root, 'd/f'), 'inside')
  await symlink(outside, path.join(s.root, 's'))
  // a plain rename loop (d ↔ tmp ↔ s): the storage-side swap the integration test does with renameat2
  let stop = false
  const swapper = (async () => {
    while (!stop) {
      await rename(path.join(s.root, 'd'), path.join(s.root, 't')).catch(() => {})
      await rename(path.join(s.root, 's'), path.join(s.root, 'd')).catch(() => {})
      await rename(path.join(s.root, 'd'), path.join(s.root, 's')).catch(() => {})
      await rename(path.join(s.root, 't'), path.join(s.root, 'd')).catch(() => {})
    }
  })()
  let escapes = 0
  const deadline = Date.now() + 1500
  for (let i = 0; Date.now() < deadline && i < 20_000; i++) {
    try {
      const h = await s.openRead('/d/f')
      const buf = Buffer.alloc(16)
      const {readSync} = await import('node:fs')
      const n = readSync(h.fd, buf, 0, 16, 0)
      if (buf.subarray(0, n).toString() === 'SECRET') escapes++
      await h.close()
    } catch {}
    await s.chmod('/d/f', 0o600).catch(() => {})
    await s.openWrite(`/d/w${i % 4}`).then((u) => u.commit()).catch(() => {})
  }
  stop = true
  await swapper
  assert.equal(escapes, 0)
  assert.deepEqual((await readdir(outside)).sort(), ['f'])
  assert.equal((await stat(path.join(outside, 'f'))).mode & 0o777, 0o644)
  void spawn
})
