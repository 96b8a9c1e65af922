// Stateless web sessions: a token is `v1.<keyId>.<payload>.<mac>`, HMAC-SHA256 over the first three parts
// with the cluster-wide key `keyId`. Any node holding the key set verifies it, so no balancer stickiness.
import {createHash, createHmac, randomBytes, timingSafeEqual} from 'node:crypto'
import type {User, WebSigningKeys} from '../../config/schema.js'

/** What a session token says. */
export interface SessionClaims {
  /** user name */
  u: string
  /** the user's session epoch when issued (logout bumps it: every older token fails) */
  e: number
  /** fingerprint of the user's password hash: `users passwd` changes it, so old sessions fail */
  p: string
  /** session id (stays the same across renewals; counts sessions) */
  s: string
  /** CSRF token the browser client echoes in X-CSRF-Token */
  x: string
  /** issued at, expires at (ms since epoch) */
  iat: number
  exp: number
}

export type VerifyFailure = 'malformed' | 'unknown-key' | 'bad-signature' | 'expired' | 'no-user' | 'revoked'

/** Session lifetime; a token used after a quarter of it is renewed (sliding expiry). */
export const SESSION_LIFETIME_MS = 20 * 60_000
export const RENEW_AFTER_MS = 5 * 60_000

export function passwordFingerprint(user: User): string {
  return createHash('sha256').update(user.passwordHash ?? 'no-password').digest('base64url').slice(0, 16)
}

function mac(secret: string, data: string): string {
  return createHmac('sha256', Buffer.from(secret, 'base64')).update(data).digest('base64url')
}

export function signToken(keys: WebSigningKeys, claims: SessionClaims): string {
  const key = keys.keys.find((k) => k.id === keys.currentKeyId)
  if (!key) throw new Error('no current web signing key')
  const body = `v1.${key.id}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
  return `${body}.${mac(key.secret, body)}`
}

/** Claims of a fresh session for `user` (new session id and CSRF token). */
export function newClaims(user: User, epoch: number, now = Date.now()): SessionClaims {
  return {u: user.name, e: epoch, p: passwordFingerprint(user), s: randomBytes(12).toString('base64url'), x: randomBytes(18).toString('base64url'), iat: now, exp: now + SESSION_LIFETIME_MS}
}

/** The key id a token was signed with (status, tests), or null when it is not a token. */
export function tokenKeyId(token: string): string | null {
  const parts = token.split('.')
  return parts.length === 4 && parts[0] === 'v1' ? parts[1] : null
}

/**
 * Verifies signature, expiry and that the user still exists with the same password and session epoch.
 * The key is looked up by id: the current key and the previous ones still in the set all verify.
 */
export function verifyToken(
  token: string,
  keys: WebSigningKeys,
  lookup: (name: string) => {user: User; epoch: number} | undefined,
  now = Date.now(),
): {ok: true; claims: SessionClaims; user: User} | {ok: false; reason: VerifyFailure} {
  const parts = token.split('.')
  if (parts.length !== 4 || parts[0] !== 'v1' || token.length > 4096) return {ok: false, reason: 'malformed'}
  const key = keys.keys.find((k) => k.id === parts[1])
  if (!key) return {ok: false, reason: 'unknown-key'}
  const expected = Buffer.from(mac(key.secret, parts.slice(0, 3).join('.')))
  const given = Buffer.from(parts[3])
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return {ok: false, reason: 'bad-signature'}
  let claims: SessionClaims
  try {
    claims = JSON.parse(Buffer.from(parts[2], 'base64url').toString('utf8')) as SessionClaims
  } catch {
    return {ok: false, reason: 'malformed'}
  }
  if (typeof claims.u !== 'string' || typeof claims.exp !== 'number' || typeof claims.e !== 'number') return {ok: false, reason: 'malformed'}
  if (claims.exp <= now) return {ok: false, reason: 'expired'}
  const found = lookup(claims.u)
  if (!found || found.user.disabled) return {ok: false, reason: 'no-user'}
  if (found.epoch !== claims.e || passwordFingerprint(found.user) !== claims.p) return {ok: false, reason: 'revoked'}
  return {ok: true, claims, user: found.user}
}

/** A renewed token: same session and CSRF token, new expiry, signed with the current key. */
export function renewClaims(claims: SessionClaims, now = Date.now()): SessionClaims {
  return {...claims, iat: now, exp: now + SESSION_LIFETIME_MS}
}
