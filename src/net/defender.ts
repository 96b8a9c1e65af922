// The defender: scores failed logins per source address and bans an address that crosses the threshold.
// Bans grow on repeat offences; the table is bounded so an attacker with many addresses cannot exhaust memory.
import type {DefenderSettings} from '../config/schema.js'

interface Entry {
  /** Timestamps (ms) and points of recent offences inside the window. */
  events: {at: number; points: number}[]
  bannedUntil: number
  /** How many times this address has been banned (drives ban growth). */
  bans: number
}

export class Defender {
  private readonly table = new Map<string, Entry>()

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
  recordFailure(address: string, points = this.settings.failedLoginScore): boolean {
    const now = this.now()
    let e = this.table.get(address)
    if (e) {
      this.table.delete(address) // re-insert: Map order doubles as LRU order
    } else {
      e = {events: [], bannedUntil: 0, bans: 0}
    }
    this.table.set(address, e)
    this.evict()
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

  /** A successful login clears the address's score (but not an active ban or its history of bans). */
  recordSuccess(address: string): void {
    const e = this.table.get(address)
    if (e) e.events = []
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
