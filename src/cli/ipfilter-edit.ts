// Editing a site's IP filter rule list: insert at a position (top by default, since the first match wins),
// replace a rule for the same block, remove by block. Pure functions over the rule list.
import {parseCidr} from '../net/ip-filter.js'
import {OperationError} from '../protocol/index.js'
import type {ClusterConfig, IpRule} from '../config/schema.js'

export const SITES = ['admin', 'files'] as const
export type Site = (typeof SITES)[number]

/** A rule as `ipfilter list --json` shows it: 1-based position, evaluated top to bottom. */
export interface NumberedRule extends IpRule {
  position: number
}

export function siteRules(config: ClusterConfig, site: Site): IpRule[] {
  return config.sites[site].ipFilter
}

export function numbered(rules: IpRule[]): NumberedRule[] {
  return rules.map((r, i) => ({position: i + 1, ...r}))
}

/** Parses a CIDR given on the command line; a usage error names the argument. */
export function checkCidr(text: string): string {
  try {
    parseCidr(text)
  } catch (error) {
    throw new OperationError('invalid', `CIDR: ${(error as Error).message}`, 'give an address or block, e.g. 203.0.113.7, 10.0.0.0/8 or fd00::/8')
  }
  return text.trim()
}

/** Same block written differently ("10.0.0.1" and "10.0.0.1/32", "10.1.2.3/8" and "10.0.0.0/8"). */
export function sameBlock(a: string, b: string): boolean {
  const x = parseCidr(a)
  const y = parseCidr(b)
  return x.family === y.family && x.prefix === y.prefix && x.network === y.network
}

/**
 * Inserts `rule` at 1-based `position` (default 1: the top, so it takes effect before the broader rules
 * below it). A rule for the same block is replaced: one block has one action.
 */
export function addRule(rules: IpRule[], rule: IpRule, position = 1): {rules: IpRule[]; replaced: IpRule[]; position: number} {
  const replaced = rules.filter((r) => sameBlock(r.cidr, rule.cidr))
  const rest = rules.filter((r) => !sameBlock(r.cidr, rule.cidr))
  if (!Number.isInteger(position) || position < 1 || position > rest.length + 1) {
    throw new OperationError('invalid', `--position ${position} is out of range 1-${rest.length + 1}`, 'list the rules with `cluster ipfilter list`')
  }
  const next = [...rest.slice(0, position - 1), rule, ...rest.slice(position - 1)]
  return {rules: next, replaced, position}
}

/** Removes every rule for the block; refused when there is none. */
export function removeRule(rules: IpRule[], cidr: string, site: Site): {rules: IpRule[]; removed: IpRule[]} {
  const removed = rules.filter((r) => sameBlock(r.cidr, cidr))
  if (removed.length === 0) {
    throw new OperationError('refused', `the ${site} site has no IP filter rule for ${cidr}`, `list the rules with \`cluster ipfilter list --site ${site}\``)
  }
  return {rules: rules.filter((r) => !sameBlock(r.cidr, cidr)), removed}
}
