// The connection gate every listener passes before authentication (style.md habit 4):
// banned? → allowed by the site's IP filter? → within the connection limits?
import type {Socket} from 'node:net'
import type {LimitSettings} from '../config/schema.js'
import type {Defender} from './defender.js'
import {IpFilter, type Rule} from './ip-filter.js'

export type GateRefusal = 'banned' | 'filtered' | 'too-many-per-address' | 'too-many-total' | 'too-many-unauthenticated'

export interface Admission {
  ok: true
  address: string
  /** Call once the connection has authenticated (frees its unauthenticated slot). */
  authenticated(): void
  /** Call exactly once when the connection closes. */
  release(): void
}
export interface Refusal {
  ok: false
  address: string
  reason: GateRefusal
  message: string
}

export class ConnectionGate {
  private filter: IpFilter
  private total = 0
  private readonly perAddress = new Map<string, number>()
  private readonly unauthenticated = new Map<string, number>()

  constructor(
    readonly site: string,
    rules: Rule[],
    private limits: LimitSettings,
    private readonly defender: Defender,
  ) {
    this.filter = new IpFilter(rules)
  }

  /** Applies new rules and limits to connections from now on. */
  update(rules: Rule[], limits: LimitSettings): void {
    this.filter = new IpFilter(rules)
    this.limits = limits
  }

  get settings(): LimitSettings {
    return this.limits
  }

  get connections(): number {
    return this.total
  }

  allowedByFilter(address: string): boolean {
    return this.filter.allows(address)
  }

  admit(socket: Socket): Admission | Refusal {
    return this.admitAddress(socket.remoteAddress ?? '')
  }

  /** `ignoreBan`: a caller that enforces the ban itself after authentication (a member's cluster key). */
  admitAddress(address: string, options: {ignoreBan?: boolean} = {}): Admission | Refusal {
    const refuse = (reason: GateRefusal, message: string): Refusal => ({ok: false, address, reason, message})
    const ban = options.ignoreBan ? 0 : this.defender.banRemaining(address)
    if (ban > 0) return refuse('banned', `${address} is banned for ${Math.ceil(ban / 1000)} s after repeated failed logins`)
    const verdict = this.filter.check(address)
    if (!verdict.allowed) {
      const by = verdict.rule ? `rule deny ${verdict.rule.cidr}` : 'no allow rule matches'
      return refuse('filtered', `${address} is not allowed by the ${this.site} site's IP filter (${by})`)
    }
    if (this.total >= this.limits.total) return refuse('too-many-total', `the ${this.site} site has reached its limit of ${this.limits.total} connections`)
    const mine = this.perAddress.get(address) ?? 0
    if (mine >= this.limits.perAddress) return refuse('too-many-per-address', `${address} has reached the limit of ${this.limits.perAddress} connections`)
    const unauth = this.unauthenticated.get(address) ?? 0
    if (unauth >= this.limits.unauthenticatedPerAddress) {
      return refuse('too-many-unauthenticated', `${address} has ${unauth} connections still authenticating`)
    }
    this.total += 1
    this.perAddress.set(address, mine + 1)
    this.unauthenticated.set(address, unauth + 1)
    const dec = (map: Map<string, number>) => {
      const n = (map.get(address) ?? 1) - 1
      if (n <= 0) map.delete(address)
      else map.set(address, n)
    }
    return admission(address, () => dec(this.unauthenticated), (authed) => {
      this.total -= 1
      dec(this.perAddress)
      if (!authed) dec(this.unauthenticated)
    })
  }
}

/** An admission whose callbacks run at most once each, `authenticated` never after `release`. */
export function admission(address: string, onAuthenticated: () => void, onRelease: (authenticated: boolean) => void): Admission {
  let authed = false
  let released = false
  return {
    ok: true,
    address,
    authenticated: () => {
      if (authed || released) return
      authed = true
      onAuthenticated()
    },
    release: () => {
      if (released) return
      released = true
      onRelease(authed)
    },
  }
}
