// The web session key set as the primary manages it: generate when missing, rotate on request, and drop
// keys that no live token can still carry (retired longer than a session lifetime ago).
import {newWebSigningKey} from '../../config/defaults.js'
import type {WebSigningKeys} from '../../config/schema.js'
import {SESSION_LIFETIME_MS} from './session-token.js'

/** Most keys kept at once: the current one and the ones retired by recent rotations. */
const MAX_KEYS = 4

/** A new current key; previous keys keep verifying until tokens signed with them have expired. */
export function rotateKeys(set: WebSigningKeys, now = new Date()): WebSigningKeys {
  const key = newWebSigningKey(now)
  // A key was retired when the next one was created; keep it while a token it signed may live.
  const sorted = [...set.keys].sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  const keep = sorted.filter((k, i) => {
    const retiredAt = i + 1 < sorted.length ? Date.parse(sorted[i + 1].createdAt) : now.getTime()
    return now.getTime() - retiredAt < SESSION_LIFETIME_MS + 60_000
  })
  return {currentKeyId: key.id, keys: [...keep.slice(-(MAX_KEYS - 1)), key]}
}

export function ensureKeys(set: WebSigningKeys, now = new Date()): WebSigningKeys | null {
  if (set.keys.length > 0 && set.keys.some((k) => k.id === set.currentKeyId)) return null
  return rotateKeys({currentKeyId: '', keys: []}, now)
}
