// The guard against an admin IP filter that would lock out the primary (its secondaries would refuse its
// pushes) or the machine running the CLI (the operator could not undo the change).
import {lookup} from 'node:dns/promises'
import {isIP} from 'node:net'
import {IpFilter} from '../net/ip-filter.js'
import {OperationError, PATHS, type NodeStatus} from '../protocol/index.js'
import type {AdminClient} from '../protocol/admin-client.js'
import type {ClusterConfig, IpRule} from '../config/schema.js'

/** An address that must keep admin access, and who it is ("the primary", "this machine"). */
export interface Subject {
  address: string
  who: string
}

export interface Lockout extends Subject {
  /** The rule that denies it, or null when no rule matches (no match means deny). */
  rule: IpRule | null
  position: number | null
}

/**
 * Subjects the new rules deny although the current rules allow them. An address already denied is not
 * reported: refusing an unrelated change would not give it access back.
 */
export function findLockouts(current: IpRule[], next: IpRule[], subjects: Subject[]): Lockout[] {
  const before = new IpFilter(current)
  const after = new IpFilter(next)
  const out: Lockout[] = []
  for (const s of subjects) {
    if (!before.allows(s.address)) continue
    const verdict = after.check(s.address)
    if (verdict.allowed) continue
    const index = verdict.rule ? next.indexOf(verdict.rule) : -1
    out.push({...s, rule: verdict.rule, position: index >= 0 ? index + 1 : null})
  }
  return out
}

/** The refusal, naming each address and the rule that would deny it. */
export function lockoutError(lockouts: Lockout[]): OperationError {
  const what = lockouts.map((l) => `${l.who} ${l.address} (${l.rule ? `rule ${l.position} "${l.rule.action} ${l.rule.cidr}" denies it` : 'no rule allows it'})`)
  const first = lockouts[0]
  const allow = `\`cluster ipfilter add --allow ${first.address}${first.address.includes(':') ? '/128' : '/32'} --site admin\``
  const fix = first.rule
    ? `keep an allow rule for ${first.address} above the deny: ${allow}, then add this rule with --position 2 or lower`
    : `add an allow rule for ${first.address} first: ${allow}`
  return new OperationError('refused', `refused: the admin IP filter would lock out ${what.join(' and ')}`, `${fix}; or give --force if you mean it`)
}

/** Throws the refusal when `next` would lock a subject out, unless forced. */
export function guardAdminFilter(current: IpRule[], next: IpRule[], subjects: Subject[], force: boolean): void {
  if (force) return
  const lockouts = findLockouts(current, next, subjects)
  if (lockouts.length > 0) throw lockoutError(lockouts)
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', ''])

/**
 * Who must keep admin access: the primary (config.primary.host, or the node's bind address while it is
 * standalone) and this machine as the node sees it (the local address of the admin connection).
 */
export async function lockoutSubjects(client: AdminClient, config: ClusterConfig): Promise<Subject[]> {
  const subjects: Subject[] = []
  let primary = config.primary?.host
  if (!primary) primary = (await client.readJson<NodeStatus>(PATHS.status)).bind
  for (const address of await addressesOf(primary)) subjects.push({address, who: 'the primary'})
  if (client.localAddress && !UNSPECIFIED.has(client.localAddress)) subjects.push({address: client.localAddress, who: 'this machine'})
  return subjects
}

/** A host's addresses; a name that does not resolve here gives none (the node checks its own pushes). */
async function addressesOf(host: string): Promise<string[]> {
  if (UNSPECIFIED.has(host)) return []
  if (isIP(host)) return [host]
  try {
    return (await lookup(host, {all: true})).map((a) => a.address)
  } catch {
    return []
  }
}
