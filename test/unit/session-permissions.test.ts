import assert from 'node:assert/strict'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {test} from 'node:test'
import {ALL_PERMISSIONS, type Permission} from '../../src/config/schema.js'
import {LocalFileSession} from '../../src/daemon/session/local-session.js'
import {FileError} from '../../src/daemon/session/types.js'
import {makeUser, tempStorage} from './session-helpers.js'

const denied = (e: unknown) => e instanceof FileError && e.kind === 'permission'

async function sessionWithout(t: Parameters<typeof tempStorage>[0], missing: Permission) {
  const storage = await tempStorage(t)
  const s = await LocalFileSession.open(storage, makeUser(ALL_PERMISSIONS.filter((p) => p !== missing)))
  await writeFile(path.join(s.root, 'f'), 'content')
  return s
}

test('permissions: without list, listing is refused but stat works', async (t) => {
  const s = await sessionWithout(t, 'list')
  await assert.rejects(s.list('/'), denied)
  assert.equal((await s.stat('f')).size, 7)
})

test('permissions: without download, reading is refused', async (t) => {
  const s = await sessionWithout(t, 'download')
  await assert.rejects(s.openRead('f'), denied)
})

test('permissions: without upload, writing is refused', async (t) => {
  const s = await sessionWithout(t, 'upload')
  await assert.rejects(s.openWrite('new'), denied)
})

test('permissions: without overwrite, new files work but replacing is refused', async (t) => {
  const s = await sessionWithout(t, 'overwrite')
  await assert.rejects(s.openWrite('f'), denied)
  await (await s.openWrite('g')).commit()
  await assert.rejects(s.rename('g', 'f'), denied)
  assert.equal(await readFile(path.join(s.root, 'f'), 'utf8'), 'content')
})

test('permissions: without delete, remove and rmdir are refused', async (t) => {
  const s = await sessionWithout(t, 'delete')
  await s.mkdir('d')
  await assert.rejects(s.remove('f'), denied)
  await assert.rejects(s.rmdir('d'), denied)
})

test('permissions: without mkdir, rename or chmod, those are refused', async (t) => {
  await assert.rejects((await sessionWithout(t, 'mkdir')).mkdir('d'), denied)
  await assert.rejects((await sessionWithout(t, 'rename')).rename('f', 'g'), denied)
  await assert.rejects((await sessionWithout(t, 'chmod')).chmod('f', 0o600), denied)
})

test('permissions: updateUser applies to a live session', async (t) => {
  const storage = await tempStorage(t)
  const s = await LocalFileSession.open(storage, makeUser())
  await s.list('/')
  s.updateUser(makeUser(['download']))
  await assert.rejects(s.list('/'), denied)
})

test('chmod drops setuid, setgid and sticky bits', async (t) => {
  const storage = await tempStorage(t)
  const s = await LocalFileSession.open(storage, makeUser())
  await writeFile(path.join(s.root, 'f'), 'x')
  await s.chmod('f', 0o4777)
  assert.equal((await s.stat('f')).mode & 0o7777, 0o777)
})
