// The defender: scores failed logins per source address and bans an address that crosses the threshold.
// Bans grow on repeat offences; the table is bounded so an attacker with many addresses cannot exhaust memory.
import type {DefenderSettings} from '../config/schema.js'

interface Entry {
  /** Timestamps (ms) and points of recent offences inside the window. */
  events: {at: number; points: number}[]
  bannedUntil: number
  /** How many times this address has been banned (drives ban growth). */
  bans: number
  /** Failed logins scored since the last success or clear (what `cluster bans list` shows). */
  failures?: number
  /** The listener that recorded the last failure ("admin", "sftp", "ftp"), when the caller said. */
  listener?: string
}

/** One active ban as `cluster bans list` shows it. */
export interface BanInfo {
  address: string
  listener: string | null
  failures: number
  until: string
  secondsLeft: number
}

export class Defender {
  private readonly table = new Map<string, Entry>()
  /** Credential checks running now per address (parallel guessing must not outrun the threshold). */
  private readonly inFlight = new Map<string, number>()
  private readonly waiting = new Map<string, (() => void)[]>()

  constructor(
    private settings: DefenderSettings,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  update(settings: DefenderSettings): void {
    this.settings = settings
  }

  get failDelayMs(): number {
    return this.settings.failDelayMs
  }

  /** Milliseconds left on a ban, 0 when the address may connect. */
  banRemaining(address: string): number {
    const e = this.table.get(address)
    if (!e) return 0
    return Math.max(0, e.bannedUntil - this.now())
  }

  isBanned(address: string): boolean {
    return this.banRemaining(address) > 0
  }

  /** Records a failed login; returns true when the address is now banned. */
  recordFailure(address: string, points = this.settings.failedLoginScore, listener?: string): boolean {
    const now = this.now()
    let e = this.table.get(address)
    if (e) {
      this.table.delete(address) // re-insert: Map order doubles as LRU order
    } else {
      e = {events: [], bannedUntil: 0, bans: 0}
    }
    this.table.set(address, e)
    this.evict()
    e.failures = (e.failures ?? 0) + 1
    if (listener) e.listener = listener
    if (e.bannedUntil > now) return true
    const windowStart = now - this.settings.windowSeconds * 1000
    e.events = e.events.filter((ev) => ev.at >= windowStart)
    e.events.push({at: now, points})
    const score = e.events.reduce((s, ev) => s + ev.points, 0)
    if (score >= this.settings.threshold) {
      const seconds = this.settings.banSeconds * this.settings.banGrowth ** e.bans
      e.bans += 1
      e.bannedUntil = now + seconds * 1000
      e.events = []
      return true
    }
    return false
  }

  /**
   * Starts a credential check for `address`; pair a true result with `end`. While the address's recorded
   * score plus the checks in flight reach the threshold, it waits for one of those to end (a success clears
   * the score, so parallel good logins pass; parallel guesses become failures and then a ban). False (refuse
   * without checking) when the address is banned, or after `maxWaitMs`.
   */
  async begin(address: string, maxWaitMs = 10_000): Promise<boolean> {
    const deadline = this.now() + maxWaitMs
    for (;;) {
      if (this.isBanned(address)) return false
      const running = this.inFlight.get(address) ?? 0
      const windowStart = this.now() - this.settings.windowSeconds * 1000
      const recorded = (this.table.get(address)?.events ?? []).filter((ev) => ev.at >= windowStart).reduce((s, ev) => s + ev.points, 0)
      if (recorded + running * this.settings.failedLoginScore < this.settings.threshold || running === 0) {
        this.inFlight.set(address, running + 1)
        return true
      }
      const left = deadline - this.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const list = this.waiting.get(address) ?? []
        const timer = setTimeout(resolve, Math.min(left, 1000))
        list.push(() => (clearTimeout(timer), resolve()))
        this.waiting.set(address, list)
      })
    }
  }

  /** Ends a check started with `begin` (call it after recordFailure / recordSuccess). */
  end(address: string): void {
    const running = (this.inFlight.get(address) ?? 1) - 1
    if (running > 0) this.inFlight.set(address, running)
    else this.inFlight.delete(address)
    const list = this.waiting.get(address)
    this.waiting.delete(address)
    for (const wake of list ?? []) wake()
  }

  /** A successful login clears the address's score (but not an active ban or its history of bans). */
  recordSuccess(address: string): void {
    const e = this.table.get(address)
    if (e) {
      e.events = []
      if (!(e.bannedUntil > this.now())) e.failures = 0
    }
  }

  /** Active bans with what `cluster bans list` shows (additive to `bans()`). */
  list(): BanInfo[] {
    const now = this.now()
    return [...this.table.entries()]
      .filter(([, e]) => e.bannedUntil > now)
      .map(([address, e]) => ({address, listener: e.listener ?? null, failures: e.failures ?? 0, until: new Date(e.bannedUntil).toISOString(), secondsLeft: Math.ceil((e.bannedUntil - now) / 1000)}))
  }

  /** The ban of one address, if any. */
  banInfo(address: string): BanInfo | undefined {
    return this.list().find((b) => b.address === address)
  }

  /**
   * Lifts the ban of `address` (and forgets its score, so the next failure starts afresh); the count of
   * past bans is kept, so a repeat offender still gets longer bans. Returns whether a ban was lifted.
   */
  clear(address: string): boolean {
    const e = this.table.get(address)
    if (!e) return false
    const wasBanned = e.bannedUntil > this.now()
    e.bannedUntil = 0
    e.events = []
    e.failures = 0
    return wasBanned
  }

  /** Lifts every ban; returns the addresses lifted. */
  clearAll(): string[] {
    const lifted = this.list().map((b) => b.address)
    for (const a of lifted) this.clear(a)
    return lifted
  }

  /** Applies a ban decided elsewhere (a worker mirrors its supervisor's table); `until` 0 lifts it. */
  mirrorBan(address: string, until: number): void {
    const e = this.table.get(address) ?? {events: [], bannedUntil: 0, bans: 0}
    e.bannedUntil = until
    if (until === 0) e.events = []
    this.table.set(address, e)
    this.evict()
  }

  /** Addresses currently banned, with seconds left. */
  bans(): {address: string; secondsLeft: number}[] {
    const now = this.now()
    return [...this.table.entries()]
      .filter(([, e]) => e.bannedUntil > now)
      .map(([address, e]) => ({address, secondsLeft: Math.ceil((e.bannedUntil - now) / 1000)}))
  }

  get size(): number {
    return this.table.size
  }

  private evict(): void {
    while (this.table.size > this.maxEntries) {
      const oldest = this.table.keys().next().value as string
      this.table.delete(oldest)
    }
  }
}
