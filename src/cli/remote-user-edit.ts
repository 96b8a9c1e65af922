// users add, passwd and remove as one small edit on the primary (`users-edit`): the CLI sends the user, not
// the configuration, so a change with 50,000 users moves a few hundred bytes. An older primary without it
// gets the read-modify-write of current.json (config-edit.ts). Same rules either way: an existing user is
// refused (or left alone with --if-missing), a conflict with another writer is retried on the new revision.
import type {AdminClient} from '../protocol/admin-client.js'
import {OperationError, type UsersEditRequest, type UsersEditResult} from '../protocol/index.js'
import type {Permission, User} from '../config/schema.js'
import {noSuchUserError, userExistsError} from '../config/users.js'
import {editConfig, readConfig, reportCommit} from './config-edit.js'
import {addUser, findUser, removeUser, setPasswordHash} from './user-edit.js'

const ATTEMPTS = 5

type Shown = NonNullable<UsersEditResult['user']>

/** One `users-edit`; undefined when the primary does not know it (an older version). */
export async function usersEdit(client: AdminClient, req: UsersEditRequest): Promise<UsersEditResult | undefined> {
  try {
    const r = await client.exec<UsersEditResult>('users-edit', req)
    if (r.commit) reportCommit(r.commit)
    return r
  } catch (error) {
    if (error instanceof OperationError && error.code === 'unknown-command') return undefined
    throw error
  }
}

/** The password's hash, asked for once the name is known to be free (minLength: the cluster's policy). */
export type HashSource = (minLength: number | undefined) => Promise<string | null>

export interface AddSpec {
  name: string
  publicKeys: string[]
  home?: string
  permissions?: Permission[]
  ifMissing: boolean
}

export async function addUserOnPrimary(client: AdminClient, spec: AddSpec, hash: HashSource): Promise<{revision: number; user: User | Shown; unchanged: boolean}> {
  const {name} = spec
  let look = await usersEdit(client, {action: 'lookup', name})
  if (!look) {
    const current = await readConfig(client)
    const existing = current.users.find((u) => u.name === name)
    if (existing && spec.ifMissing) return {revision: current.revision, user: existing, unchanged: true}
    if (existing) throw userExistsError(name)
    const passwordHash = await hash(current.passwordPolicy?.minLength)
    let user: User | undefined
    const config = await editConfig(client, (c) => void (user = addUser(c, {name, passwordHash, publicKeys: spec.publicKeys, home: spec.home, permissions: spec.permissions})), `users add ${name}`)
    return {revision: config.revision, user: user!, unchanged: false}
  }
  let passwordHash: string | null | undefined
  for (let attempt = 1; ; attempt++) {
    if (look.user && spec.ifMissing) return {revision: look.revision, user: look.user, unchanged: true}
    if (look.user) throw userExistsError(name)
    if (passwordHash === undefined) passwordHash = await hash(look.passwordPolicy.minLength)
    try {
      const r = (await usersEdit(client, {action: 'add', name, passwordHash, publicKeys: spec.publicKeys, home: spec.home, permissions: spec.permissions, baseRevision: look.revision, summary: `users add ${name}`}))!
      return {revision: r.revision, user: r.user!, unchanged: !r.changed}
    } catch (error) {
      if (!(error instanceof OperationError) || error.code !== 'conflict' || attempt >= ATTEMPTS) throw error
      look = (await usersEdit(client, {action: 'lookup', name}))!
    }
  }
}

/** passwd: fails on an unknown name before asking for the password. */
export async function setPasswordOnPrimary(client: AdminClient, name: string, hash: HashSource): Promise<{revision: number}> {
  const look = await usersEdit(client, {action: 'lookup', name})
  if (!look) {
    const current = await readConfig(client)
    findUser(current, name)
    const h = await hash(current.passwordPolicy?.minLength)
    return {revision: (await editConfig(client, (c) => void setPasswordHash(c, name, h!), `users passwd ${name}`)).revision}
  }
  if (!look.user) throw noSuchUserError(name)
  const h = await hash(look.passwordPolicy.minLength)
  return once(client, {action: 'passwd', name, passwordHash: h, summary: `users passwd ${name}`})
}

/** remove: `confirm` runs once the user is known to exist (a terminal asks; scripts pass --yes). */
export async function removeUserOnPrimary(client: AdminClient, name: string, confirm: () => Promise<void>): Promise<{revision: number}> {
  const look = await usersEdit(client, {action: 'lookup', name})
  if (!look) {
    findUser(await readConfig(client), name)
    await confirm()
    return {revision: (await editConfig(client, (c) => void removeUser(c, name), `users remove ${name}`)).revision}
  }
  if (!look.user) throw noSuchUserError(name)
  await confirm()
  return once(client, {action: 'remove', name, summary: `users remove ${name}`})
}

/** An edit that does not depend on the revision it was asked at (no baseRevision: no conflict to retry). */
async function once(client: AdminClient, req: UsersEditRequest): Promise<{revision: number}> {
  const r = (await usersEdit(client, req))!
  return {revision: r.revision}
}
