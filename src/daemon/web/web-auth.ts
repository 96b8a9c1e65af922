// Who is asking: Basic (WebDAV clients, over TLS), Bearer or the session cookie (browser client). Cookie
// requests that change state must carry the session's CSRF token in X-CSRF-Token.
import {createHmac, randomBytes} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'
import type {ClusterConfig, User} from '../../config/schema.js'
import {UserDirectory} from '../sftp/user-directory.js'
import {newClaims, renewClaims, RENEW_AFTER_MS, SESSION_LIFETIME_MS, signToken, verifyToken, type SessionClaims} from './session-token.js'

export const COOKIE = 'ftpc_session'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PROPFIND'])
/** Successful Basic logins are remembered this long, so a WebDAV client does not pay one scrypt per request. */
const BASIC_CACHE_MS = 60_000
const BASIC_CACHE_MAX = 10_000

export type AuthResult =
  | {ok: true; user: User; via: 'basic' | 'bearer' | 'cookie'; claims?: SessionClaims; token?: string}
  | {ok: false; status: 401 | 403; reason: string; failedLogin: boolean}

/** Runs one password check under the caller's guard; 'refused' when the guard refused to run it. */
export type PasswordCheck = (run: () => Promise<User | null>) => Promise<User | null | 'refused'>

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  return out
}

export class WebAuth {
  private users: UserDirectory
  private config: ClusterConfig
  private readonly cacheKey = randomBytes(32)
  private readonly basicCache = new Map<string, {user: string; hash: string | null; until: number}>()
  /** Logouts made here, in force before the primary's epoch bump arrives: user → lowest valid epoch. */
  private readonly localFloor = new Map<string, number>()
  /** Sessions seen on this node recently (session id → last use), for `cluster web status`. */
  readonly seen = new Map<string, number>()

  constructor(config: ClusterConfig) {
    this.config = config
    this.users = new UserDirectory(config.users)
  }

  update(config: ClusterConfig): void {
    this.config = config
    this.users = new UserDirectory(config.users)
    for (const [u, floor] of this.localFloor) if (this.epochOf(u, false) >= floor) this.localFloor.delete(u)
  }

  get keyId(): string {
    return this.config.serviceIdentity.webSigningKeys.currentKeyId
  }

  get activeSessions(): number {
    const cut = Date.now() - SESSION_LIFETIME_MS
    for (const [s, t] of this.seen) if (t < cut) this.seen.delete(s)
    return this.seen.size
  }

  epochOf(name: string, withLocal = true): number {
    const e = this.config.sites.web.sessionEpochs[name] ?? 0
    return withLocal ? Math.max(e, this.localFloor.get(name) ?? 0) : e
  }

  /** Makes this node refuse the user's current sessions at once (the primary's bump follows); returns the floor. */
  revokeLocally(name: string): number {
    const floor = this.epochOf(name) + 1
    this.holdFloor(name, floor)
    return floor
  }

  /** Refuses the user's sessions below `floor` (a logout made by another worker of this node). */
  holdFloor(name: string, floor: number): void {
    if (this.epochOf(name, false) >= floor) return
    this.localFloor.set(name, Math.max(floor, this.localFloor.get(name) ?? 0))
  }

  async checkPassword(name: string, password: string): Promise<User | null> {
    return this.users.checkPassword(name, password)
  }

  /** A new signed session for `user`. */
  issue(user: User): {token: string; claims: SessionClaims} {
    const claims = newClaims(user, this.epochOf(user.name))
    return {token: signToken(this.config.serviceIdentity.webSigningKeys, claims), claims}
  }

  private verify(token: string): {ok: true; claims: SessionClaims; user: User} | {ok: false; reason: string} {
    const lookup = (name: string) => {
      const user = this.users.find(name)
      return user ? {user, epoch: this.epochOf(name)} : undefined
    }
    const v = verifyToken(token, this.config.serviceIdentity.webSigningKeys, lookup)
    if (v.ok) this.seen.set(v.claims.s, Date.now())
    return v
  }

  /**
   * Who is asking. `check` runs each password check (the caller's defender slot: parallel guesses wait, and
   * it scores a failure itself, hence `scored`); a `null` from it without a check means refused unchecked.
   */
  async authenticate(req: IncomingMessage, check: PasswordCheck = (run) => run()): Promise<AuthResult | null> {
    const h = req.headers.authorization
    if (h?.startsWith('Basic ')) {
      const text = Buffer.from(h.slice(6), 'base64').toString('utf8')
      const colon = text.indexOf(':')
      if (colon < 0) return {ok: false, status: 401, reason: 'malformed Basic credentials', failedLogin: true}
      const name = text.slice(0, colon)
      const password = text.slice(colon + 1)
      const key = createHmac('sha256', this.cacheKey).update(text).digest('base64')
      const cached = this.basicCache.get(key)
      const known = this.users.find(name)
      if (cached && cached.until > Date.now() && known && !known.disabled && known.passwordHash === cached.hash) return {ok: true, user: known, via: 'basic'}
      const user = await check(() => this.users.checkPassword(name, password))
      if (user === 'refused') return {ok: false, status: 403, reason: 'too many login attempts from your address; try later', failedLogin: false}
      if (!user) return {ok: false, status: 401, reason: 'wrong user name or password', failedLogin: true}
      if (this.basicCache.size >= BASIC_CACHE_MAX) this.basicCache.clear()
      this.basicCache.set(key, {user: name, hash: user.passwordHash, until: Date.now() + BASIC_CACHE_MS})
      return {ok: true, user, via: 'basic'}
    }
    if (h?.startsWith('Bearer ')) {
      const token = h.slice(7).trim()
      const v = this.verify(token)
      return v.ok ? {ok: true, user: v.user, via: 'bearer', claims: v.claims, token} : {ok: false, status: 401, reason: `session ${v.reason}`, failedLogin: false}
    }
    const token = parseCookies(req.headers.cookie).get(COOKIE)
    if (token === undefined) return null
    const v = this.verify(token)
    if (!v.ok) return {ok: false, status: 401, reason: `session ${v.reason}`, failedLogin: false}
    const method = (req.method ?? 'GET').toUpperCase()
    if (!SAFE_METHODS.has(method) && req.headers['x-csrf-token'] !== v.claims.x) {
      return {ok: false, status: 403, reason: 'missing or wrong X-CSRF-Token (cross-site request refused)', failedLogin: false}
    }
    return {ok: true, user: v.user, via: 'cookie', claims: v.claims, token}
  }

  /** Sets the cookie for a session, renewing it (sliding 20 min) when it is older than RENEW_AFTER. */
  setCookie(res: ServerResponse, claims: SessionClaims, secure: boolean, force = false): SessionClaims {
    let c = claims
    if (!force && Date.now() - claims.iat < RENEW_AFTER_MS) return c
    if (!force) c = renewClaims(claims)
    const token = signToken(this.config.serviceIdentity.webSigningKeys, c)
    res.setHeader('set-cookie', `${COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_LIFETIME_MS / 1000}${secure ? '; Secure' : ''}`)
    res.setHeader('x-session-key-id', this.keyId)
    return c
  }

  clearCookie(res: ServerResponse, secure: boolean): void {
    res.setHeader('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`)
  }
}
