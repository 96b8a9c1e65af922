// Admin users of the admin endpoint in the cluster configuration: add (or add keys), remove (never the last),
// set a password, and the summary `admins list` shows (never the hash). Pure functions over the configuration.
import {OperationError} from '../protocol/index.js'
import type {AdminUser, ClusterConfig} from '../config/schema.js'
import {keyInfo, type PublicKeyInfo} from './user-edit.js'

export interface AdminSummary {
  name: string
  hasPassword: boolean
  publicKeys: PublicKeyInfo[]
}

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/

export function adminSummary(a: AdminUser): AdminSummary {
  return {name: a.name, hasPassword: a.passwordHash !== null, publicKeys: a.publicKeys.map(keyInfo)}
}

export function findAdmin(config: ClusterConfig, name: string): AdminUser {
  const a = config.adminUsers.find((u) => u.name === name)
  if (!a) throw new OperationError('refused', `there is no admin user "${name}"`, 'list them with `cluster admins list`')
  return a
}

/**
 * A new admin, or more keys for an existing one (keys already there are kept once: re-running is a no-op).
 * A password for an existing admin is refused: that is `admins passwd`.
 */
export function addAdmin(config: ClusterConfig, name: string, passwordHash: string | null, publicKeys: string[]): {admin: AdminUser; created: boolean} {
  if (!NAME.test(name)) throw new OperationError('invalid', `admin name "${name}" is not allowed`, 'use letters, digits, "_", ".", "@" or "-" (at most 64)')
  const existing = config.adminUsers.find((u) => u.name === name)
  if (existing) {
    if (passwordHash !== null) throw new OperationError('refused', `admin user "${name}" already exists`, `change its password with \`cluster admins passwd ${name}\``)
    existing.publicKeys = [...new Set([...existing.publicKeys, ...publicKeys])]
    return {admin: existing, created: false}
  }
  if (passwordHash === null && publicKeys.length === 0) {
    throw new OperationError('invalid', `admin user "${name}" needs a password or a public key`, 'give --password (or CLUSTER_ADMIN_PASSWORD) or --public-key FILE')
  }
  const admin: AdminUser = {name, passwordHash, publicKeys}
  config.adminUsers.push(admin)
  return {admin, created: true}
}

export function removeAdmin(config: ClusterConfig, name: string): AdminUser {
  const admin = findAdmin(config, name)
  if (config.adminUsers.length === 1) {
    throw new OperationError('refused', `"${name}" is the last admin user: removing it would leave no way to administer the cluster`, `add another first: \`cluster admins add NAME\``)
  }
  config.adminUsers = config.adminUsers.filter((u) => u !== admin)
  return admin
}
