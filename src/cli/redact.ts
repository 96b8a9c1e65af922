// Password hashes are secrets too (an offline guess needs only the hash): every output shows them as
// `scrypt:…` unless --show-secrets. A write of a redacted document keeps the stored hash (restoreHashes).
import type {ClusterConfig} from '../config/schema.js'

export const REDACTED_HASH = 'scrypt:…'
const HASH = /^scrypt\$/

/** A deep copy of `value` with every scrypt hash replaced by `scrypt:…`. */
export function redactHashes<T>(value: T): T {
  if (typeof value === 'string') return (HASH.test(value) ? REDACTED_HASH : value) as T
  if (Array.isArray(value)) return value.map(redactHashes) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactHashes(v)])) as T
  }
  return value
}

/** Puts back the current hash of every user and admin whose hash was left redacted (matched by name). */
export function restoreHashes(edited: ClusterConfig, current: ClusterConfig): void {
  for (const list of ['users', 'adminUsers'] as const) {
    for (const u of (edited[list] ?? []) as {name: string; passwordHash: string | null}[]) {
      if (u.passwordHash !== REDACTED_HASH) continue
      const was = (current[list] as {name: string; passwordHash: string | null}[]).find((c) => c.name === u.name)
      u.passwordHash = was?.passwordHash ?? null
    }
  }
}
