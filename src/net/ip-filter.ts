// IP filter rules: ordered allow/deny CIDR rules, first match wins, no match denies. Checked when a TCP
// connection is accepted, before any protocol byte.
import {isIPv4, isIPv6} from 'node:net'

export interface Cidr {
  family: 4 | 6
  /** Network address as a 128-bit (v6) or 32-bit (v4) integer. */
  network: bigint
  prefix: number
}

export interface Rule {
  action: 'allow' | 'deny'
  cidr: string
}

/** The admin site's default: loopback and private LAN ranges allowed, the rest denied. */
export const DEFAULT_ADMIN_FILTER: Rule[] = [
  {action: 'allow', cidr: '127.0.0.0/8'},
  {action: 'allow', cidr: '::1/128'},
  {action: 'allow', cidr: '10.0.0.0/8'},
  {action: 'allow', cidr: '172.16.0.0/12'},
  {action: 'allow', cidr: '192.168.0.0/16'},
  {action: 'allow', cidr: 'fc00::/7'},
]

/** The files site's default: everyone (users come from anywhere; the defender guards logins). */
export const DEFAULT_FILES_FILTER: Rule[] = [
  {action: 'allow', cidr: '0.0.0.0/0'},
  {action: 'allow', cidr: '::/0'},
]

function v4ToBigInt(addr: string): bigint {
  return addr.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n)
}

function v6ToBigInt(addr: string): bigint {
  let text = addr
  const zone = text.indexOf('%')
  if (zone >= 0) text = text.slice(0, zone)
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    const v = v4ToBigInt(tail)
    text = `${text.slice(0, lastColon + 1)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`
  }
  const [head, rest] = text.split('::')
  const h = head === '' ? [] : head.split(':')
  const r = rest === undefined ? [] : rest === '' ? [] : rest.split(':')
  const fill = rest === undefined ? 0 : 8 - h.length - r.length
  const parts = [...h, ...Array(fill).fill('0'), ...r]
  if (parts.length !== 8) throw new Error(`"${addr}" is not an IPv6 address`)
  return parts.reduce((acc, p) => (acc << 16n) | BigInt(parseInt(p, 16)), 0n)
}

/** Parses "1.2.3.0/24", "::1", "fc00::/7"; throws a message saying what is wrong. */
export function parseCidr(text: string): Cidr {
  const [addr, prefixText, extra] = text.trim().split('/')
  if (extra !== undefined) throw new Error(`"${text}" is not an address or CIDR block`)
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : 0
  if (family === 0) throw new Error(`"${text}" is not an IPv4 or IPv6 address or CIDR block`)
  const bits = family === 4 ? 32 : 128
  let prefix = bits
  if (prefixText !== undefined) {
    if (!/^\d+$/.test(prefixText) || Number(prefixText) > bits) throw new Error(`"${text}": prefix length must be 0-${bits}`)
    prefix = Number(prefixText)
  }
  const value = family === 4 ? v4ToBigInt(addr) : v6ToBigInt(addr)
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix)
  return {family, network: value & mask, prefix}
}

/** Normalises a socket's remote address: IPv4-mapped IPv6 (::ffff:10.0.0.1) is treated as IPv4. */
export function normalizeAddress(address: string): {family: 4 | 6; value: bigint} | null {
  let a = address
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a)
  if (mapped) a = mapped[1]
  if (isIPv4(a)) return {family: 4, value: v4ToBigInt(a)}
  if (isIPv6(a)) return {family: 6, value: v6ToBigInt(a)}
  return null
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const n = normalizeAddress(address)
  if (!n || n.family !== cidr.family) return false
  const bits = cidr.family === 4 ? 32 : 128
  const mask = cidr.prefix === 0 ? 0n : ((1n << BigInt(cidr.prefix)) - 1n) << BigInt(bits - cidr.prefix)
  return (n.value & mask) === cidr.network
}

const compiledLists = new WeakMap<Rule[], {rule: Rule; cidr: Cidr}[]>()

/** A compiled rule list; `check` answers whether an address is allowed and by which rule. */
export class IpFilter {
  private readonly compiled: {rule: Rule; cidr: Cidr}[]

  constructor(readonly rules: Rule[]) {
    // A configuration change shares the rule lists it leaves alone: each list is compiled once.
    let compiled = compiledLists.get(rules)
    if (!compiled) compiledLists.set(rules, (compiled = rules.map((rule) => ({rule, cidr: parseCidr(rule.cidr)}))))
    this.compiled = compiled
  }

  check(address: string): {allowed: boolean; rule: Rule | null} {
    for (const {rule, cidr} of this.compiled) {
      if (cidrContains(cidr, address)) return {allowed: rule.action === 'allow', rule}
    }
    return {allowed: false, rule: null}
  }

  allows(address: string): boolean {
    return this.check(address).allowed
  }
}
