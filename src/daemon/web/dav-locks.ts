// WebDAV locks (class 2), cluster-wide: one lock table on the shared storage, changed under the state
// mutex, read by every node before a write. A LOCK through node A is therefore seen by node B at once.
import {randomUUID} from 'node:crypto'
import type {SharedState} from './shared-state.js'

export interface DavLock {
  token: string
  /** Storage-relative path of the lock root ("/alice/dir"). */
  root: string
  depth: '0' | 'infinity'
  scope: 'exclusive' | 'shared'
  /** The client's DAV:owner element, serialised (or ''). */
  owner: string
  /** The user who took it: only that user may use its token. */
  user: string
  timeoutSeconds: number
  expiresAt: number
}

export const DEFAULT_LOCK_SECONDS = 600
export const MAX_LOCK_SECONDS = 3600
const MAX_LOCKS = 10_000

export class LockConflict extends Error {
  constructor(readonly lock: DavLock) {
    super(`locked: ${lock.root}`)
  }
}

function isUnder(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : root + '/')
}

/** Locks whose scope covers `p`: on p itself, or depth infinity on an ancestor. */
export function covering(locks: DavLock[], p: string): DavLock[] {
  return locks.filter((l) => l.root === p || (l.depth === 'infinity' && isUnder(p, l.root)))
}

export class LockTable {
  private readonly file: string
  constructor(private readonly state: SharedState, private readonly now: () => number = Date.now) {
    this.file = state.file('locks.json')
  }

  async all(): Promise<DavLock[]> {
    const doc = await this.state.readJson<{locks: DavLock[]}>(this.file, {locks: []})
    const t = this.now()
    return doc.locks.filter((l) => l.expiresAt > t)
  }

  private async mutate<T>(fn: (locks: DavLock[]) => T): Promise<T> {
    return this.state.withMutex('locks', async () => {
      const locks = await this.all()
      const result = fn(locks)
      await this.state.writeJson(this.file, {locks})
      return result
    })
  }

  /** Creates a lock unless a conflicting one exists (exclusive vs anything, shared vs exclusive). */
  async lock(spec: Omit<DavLock, 'token' | 'expiresAt'>): Promise<DavLock> {
    return this.mutate((locks) => {
      const clash = locks.find((l) => {
        const overlaps = isUnder(spec.root, l.root) ? l.root === spec.root || l.depth === 'infinity' : spec.depth === 'infinity' && isUnder(l.root, spec.root)
        return overlaps && (l.scope === 'exclusive' || spec.scope === 'exclusive')
      })
      if (clash) throw new LockConflict(clash)
      if (locks.length >= MAX_LOCKS) throw new Error('too many locks')
      const lock: DavLock = {...spec, token: `urn:uuid:${randomUUID()}`, expiresAt: this.now() + spec.timeoutSeconds * 1000}
      locks.push(lock)
      return lock
    })
  }

  /** Refreshes the lock `token` (which must cover `p`) for a new timeout; null if there is none. */
  async refresh(token: string, p: string, user: string, timeoutSeconds: number): Promise<DavLock | null> {
    return this.mutate((locks) => {
      const l = locks.find((x) => x.token === token && x.user === user && (x.root === p || (x.depth === 'infinity' && isUnder(p, x.root))))
      if (!l) return null
      l.timeoutSeconds = timeoutSeconds
      l.expiresAt = this.now() + timeoutSeconds * 1000
      return {...l}
    })
  }

  async unlock(token: string, p: string, user: string): Promise<'ok' | 'no-such-lock' | 'not-owner'> {
    return this.mutate((locks) => {
      const at = locks.findIndex((x) => x.token === token && (x.root === p || (x.depth === 'infinity' && isUnder(p, x.root))))
      if (at < 0) return 'no-such-lock'
      if (locks[at].user !== user) return 'not-owner'
      locks.splice(at, 1)
      return 'ok'
    })
  }

  /** Drops the locks rooted at or under `p` (the resource was deleted or moved away). */
  async dropUnder(p: string): Promise<void> {
    const current = await this.all()
    if (!current.some((l) => isUnder(l.root, p))) return
    await this.mutate((locks) => {
      for (let i = locks.length - 1; i >= 0; i--) if (isUnder(locks[i].root, p)) locks.splice(i, 1)
    })
  }

  /**
   * Checks that a write to `p` may go ahead: every lock covering it (and, when `members` is set, every lock
   * inside it; when `parent` is set, the parent's locks for adding or removing a member) must be one of
   * `tokens` held by `user`. Throws LockConflict naming the first one that is not.
   */
  async checkWrite(p: string, opts: {user: string; tokens: string[]; members?: boolean; parent?: string}): Promise<void> {
    const locks = await this.all()
    if (locks.length === 0) return
    const relevant = new Set(covering(locks, p))
    if (opts.members) for (const l of locks) if (isUnder(l.root, p)) relevant.add(l)
    if (opts.parent !== undefined) for (const l of covering(locks, opts.parent)) relevant.add(l)
    const held = (l: DavLock) => opts.tokens.includes(l.token) && l.user === opts.user
    // every exclusive lock must be presented; of shared locks on the same resource, one suffices
    for (const l of relevant) if (l.scope === 'exclusive' && !held(l)) throw new LockConflict(l)
    const shared = [...relevant].filter((l) => l.scope === 'shared')
    if (shared.length > 0 && !shared.some(held)) throw new LockConflict(shared[0])
  }
}
