// Shared fixtures of the file-session unit tests: a temp storage root and users with chosen permissions.
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {ALL_PERMISSIONS, type Permission, type User} from '../../src/config/schema.js'

export function makeUser(permissions: Permission[] = ALL_PERMISSIONS, home = '/alice'): User {
  return {name: 'alice', passwordHash: null, publicKeys: [], home, permissions, disabled: false}
}

export async function tempStorage(t: {after(fn: () => Promise<void>): void}): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ftpcluster-session-'))
  t.after(() => rm(dir, {recursive: true, force: true}))
  return dir
}
