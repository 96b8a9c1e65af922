// File-service user entries of the configuration: the rules of adding, removing and re-keying one, shared
// by the CLI (which edits a document it read) and the primary's server-side edit (`users-edit`).
import {OperationError} from '../protocol/index.js'
import {DEFAULT_USER_PERMISSIONS} from './defaults.js'
import type {ClusterConfig, Permission, User} from './schema.js'
import {sharedEnds} from './config-patch.js'

export interface NewUser {
  name: string
  passwordHash: string | null
  publicKeys: string[]
  /** Default: `/NAME`. */
  home?: string
  /** Default: every permission. */
  permissions?: Permission[]
}

export function userExistsError(name: string): OperationError {
  return new OperationError('refused', `user "${name}" already exists`, `change its password with \`cluster users passwd ${name}\`, or remove it first`)
}

export function noSuchUserError(name: string): OperationError {
  return new OperationError('refused', `there is no user "${name}"`, 'list them with `cluster users list`')
}

/** The entry `spec` describes, checked against the users of `config` (which it does not change). */
export function makeUser(config: ClusterConfig, spec: NewUser): User {
  if (config.users.some((u) => u.name === spec.name)) throw userExistsError(spec.name)
  if (spec.passwordHash === null && spec.publicKeys.length === 0) {
    throw new OperationError('invalid', `user "${spec.name}" needs a password or a public key`, 'give --password (or CLUSTER_USER_PASSWORD) or --public-key FILE')
  }
  const home = spec.home ?? `/${spec.name}`
  if (!home.startsWith('/')) throw new OperationError('invalid', `--home: "${home}" must be absolute (under the storage root), e.g. /${spec.name}`)
  return {
    name: spec.name,
    passwordHash: spec.passwordHash,
    publicKeys: spec.publicKeys,
    home,
    permissions: spec.permissions ?? [...DEFAULT_USER_PERMISSIONS],
    disabled: false,
  }
}

/**
 * The indexes behind userByName, of the users arrays last asked about (a few: a process may hold more than one
 * configuration). A configuration a change made shares all but a few user objects with the one before, so its
 * index is the previous one with those few entries updated (names are unique in a valid configuration): a
 * lookup after a one-user change to 50,000 users is not a scan.
 */
const indexes: {users: readonly User[]; byName: Map<string, User>}[] = []

/** The user named `name` in `users` (a valid configuration's), found through an index kept up to date. */
export function userByName(users: readonly User[], name: string): User | undefined {
  let index = indexes.find((x) => x.users === users)
  if (!index) {
    // The index of the array this one shares nearly everything with is moved forward; else a new one.
    let from: {at: number; p: number; s: number} | null = null
    indexes.forEach((x, at) => {
      if (from) return
      const {p, s} = sharedEnds(x.users, users)
      if (x.users.length - p - s + users.length - p - s <= 1024) from = {at, p, s}
    })
    if (from) {
      const {at, p, s} = from as {at: number; p: number; s: number}
      const before = indexes.splice(at, 1)[0]
      for (let i = p; i < before.users.length - s; i++) {
        const u = before.users[i]
        if (before.byName.get(u.name) === u) before.byName.delete(u.name)
      }
      for (let i = p; i < users.length - s; i++) before.byName.set(users[i].name, users[i])
      index = {users, byName: before.byName}
    } else {
      index = {users, byName: new Map(users.map((u) => [u.name, u]))}
    }
    indexes.unshift(index)
    if (indexes.length > 3) indexes.pop()
  }
  const u = index.byName.get(name)
  return u && u.name === name ? u : undefined
}
