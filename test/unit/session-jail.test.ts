import assert from 'node:assert/strict'
import {mkdir, readdir, stat, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {test} from 'node:test'
import {LocalFileSession} from '../../src/daemon/session/local-session.js'
import {normalizeVirtual} from '../../src/daemon/session/path-jail.js'
import {FileError} from '../../src/daemon/session/types.js'
import {makeUser, tempStorage} from './session-helpers.js'

async function rejectsKind(p: Promise<unknown>, kinds: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof FileError && kinds.includes(e.kind))
}

test('normalizeVirtual: ".." stops at the root', () => {
  assert.equal(normalizeVirtual('../../etc/passwd'), '/etc/passwd')
  assert.equal(normalizeVirtual('/a/../../..'), '/')
  assert.equal(normalizeVirtual('b/../../c', '/a'), '/c')
  assert.equal(normalizeVirtual(''), '/')
  assert.equal(normalizeVirtual('./x/./y/'), '/x/y')
})

test('normalizeVirtual: %2e%2e is a literal name', () => {
  assert.equal(normalizeVirtual('%2e%2e/%2e%2e/etc'), '/%2e%2e/%2e%2e/etc')
})

test('normalizeVirtual: NUL bytes and backslashes are refused', () => {
  assert.throws(() => normalizeVirtual('a\0b'), (e: unknown) => e instanceof FileError && e.kind === 'invalid-path')
  assert.throws(() => normalizeVirtual('..\\..\\etc'), (e: unknown) => e instanceof FileError && e.kind === 'invalid-path')
})

test('LocalFileSession.open: creates the home with mode 0755', async (t) => {
  const storage = await tempStorage(t)
  const s = await LocalFileSession.open(storage, makeUser(undefined, '/deep/alice'))
  const st = await stat(path.join(storage, 'deep/alice'))
  assert.ok(st.isDirectory())
  assert.equal(st.mode & 0o777, 0o755)
  assert.equal(s.resolve('x', '/'), '/x')
})

test('jail: traversal forms never reach files outside the home', async (t) => {
  const storage = await tempStorage(t)
  await writeFile(path.join(storage, 'secret'), 'top secret')
  const s = await LocalFileSession.open(storage, makeUser())
  for (const p of ['../secret', '../../secret', '/../secret', 'a/../../secret', '%2e%2e/secret']) {
    await rejectsKind(s.openRead(p), ['not-found'])
    await rejectsKind(s.stat(p), ['not-found'])
  }
  await rejectsKind(s.openRead('..\\secret'), ['invalid-path'])
  await rejectsKind(s.openRead('secret\0'), ['invalid-path'])
  // Writes through traversal land inside the home, never next to it.
  const up = await s.openWrite('../../escaped')
  await up.commit()
  await stat(path.join(storage, 'alice/escaped'))
  assert.deepEqual((await readdir(storage)).sort(), ['alice', 'secret'])
})

test('jail: symlinks leading out of the home are refused for every operation', async (t) => {
  const storage = await tempStorage(t)
  const outside = path.join(storage, 'outside')
  await mkdir(outside)
  await writeFile(path.join(outside, 'f'), 'outside')
  const s = await LocalFileSession.open(storage, makeUser())
  const home = s.root
  await symlink(outside, path.join(home, 'out'))
  await symlink(path.join(outside, 'f'), path.join(home, 'fl'))
  await symlink(path.join(outside, 'nothing-yet'), path.join(home, 'dangling'))
  await rejectsKind(s.openRead('out/f'), ['permission'])
  await rejectsKind(s.openRead('fl'), ['permission'])
  await rejectsKind(s.list('out'), ['permission'])
  await rejectsKind(s.openWrite('out/new'), ['permission'])
  await rejectsKind(s.openWrite('fl'), ['permission'])
  await rejectsKind(s.openWrite('dangling'), ['permission'])
  await rejectsKind(s.mkdir('out/d'), ['permission'])
  await rejectsKind(s.chmod('fl', 0o777), ['permission'])
  await rejectsKind(s.setTimes('fl', new Date(0), new Date(0)), ['permission'])
  await rejectsKind(s.rename('fl', 'fl2'), ['permission'])
  await writeFile(path.join(home, 'mine'), 'x')
  await rejectsKind(s.rename('mine', 'out/stolen'), ['permission'])
  assert.deepEqual(await readdir(outside), ['f'])
  assert.equal((await stat(path.join(outside, 'f'))).mode & 0o777, 0o644)
  // Outside links are hidden from listings; inside links are shown.
  await symlink(path.join(home, 'mine'), path.join(home, 'inside-link'))
  const names = (await s.list('/')).map((e) => e.name).sort()
  assert.deepEqual(names, ['inside-link', 'mine'])
})

test('jail: a home that is a symlink out of the storage is refused', async (t) => {
  const storage = await tempStorage(t)
  const elsewhere = await tempStorage(t)
  await mkdir(path.join(storage, 'st'))
  await symlink(elsewhere, path.join(storage, 'st', 'bob'))
  await rejectsKind(LocalFileSession.open(path.join(storage, 'st'), makeUser(undefined, '/bob')), ['permission'])
})
