// Our own accounting of the file descriptors the file services hold (Node has no getrlimit/setrlimit API):
// a node-wide budget below the process limit, so a reserve always stays for the admin port, /healthz and the
// sync links, and a per-user share of it, so one user running out never means EMFILE for everyone.
import {readFileSync} from 'node:fs'
import {fileError} from './file-errors.js'

/** Descriptors kept out of the file services' budget (admin SSH, health, sync links, logs, ssh2 internals). */
export const RESERVE = 512

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at start), from /proc. */
export function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    const soft = line?.split(/\s{2,}/)[1]
    return soft === undefined || soft === 'unlimited' ? null : Number(soft)
  } catch {
    return null
  }
}

export class DescriptorBudget {
  private used = 0
  private readonly byUser = new Map<string, number>()

  constructor(
    private total: number,
    private perUser: number,
  ) {}

  configure(total: number, perUser: number): void {
    this.total = total
    this.perUser = perUser
  }

  get inUse(): number {
    return this.used
  }

  get limit(): number {
    return this.total
  }

  /** Takes `n` descriptors for `user` or throws `no-resources`; the returned function gives them back once. */
  take(user: string, n: number, virtualPath: string): () => void {
    const mine = this.byUser.get(user) ?? 0
    if (mine + n > this.perUser) throw fileError('no-resources', virtualPath, `too many open files for user ${user} (limit ${this.perUser}); close some transfers`)
    if (this.used + n > this.total) throw fileError('no-resources', virtualPath, 'the server has too many open files, try again later')
    this.used += n
    this.byUser.set(user, mine + n)
    let given = false
    return () => {
      if (given) return
      given = true
      this.used -= n
      const left = (this.byUser.get(user) ?? n) - n
      if (left > 0) this.byUser.set(user, left)
      else this.byUser.delete(user)
    }
  }
}

/** The node's budget: configured at start from the process limit and on every reload from `limits`. */
export const descriptors = new DescriptorBudget(Math.max(64, (openFileLimit() ?? 1024) - RESERVE), 4096)
