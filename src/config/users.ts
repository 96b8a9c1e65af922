// File-service user entries of the configuration: the rules of adding, removing and re-keying one, shared
// by the CLI (which edits a document it read) and the primary's server-side edit (`users-edit`).
import {OperationError} from '../protocol/index.js'
import {DEFAULT_USER_PERMISSIONS} from './defaults.js'
import type {ClusterConfig, Permission, User} from './schema.js'

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
