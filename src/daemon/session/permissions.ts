// Per-user permissions: one check, one error, so both protocols refuse the same things the same way.
import type {Permission, User} from '../../config/schema.js'
import {fileError} from './file-errors.js'

export function hasPermission(user: User, permission: Permission): boolean {
  return user.permissions.includes(permission)
}

export function requirePermission(user: User, permission: Permission, virtualPath: string): void {
  if (!hasPermission(user, permission)) throw fileError('permission', virtualPath, `permission denied (needs "${permission}")`)
}

export function requireAny(user: User, permissions: Permission[], virtualPath: string): void {
  if (!permissions.some((p) => hasPermission(user, p))) {
    throw fileError('permission', virtualPath, `permission denied (needs one of ${permissions.join(', ')})`)
  }
}
