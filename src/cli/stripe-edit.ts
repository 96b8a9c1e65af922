// The striped cluster's configuration changes (`cluster stripe enable|disable|add-node`), as pure edits of the
// document the primary holds: ordinary configuration changes, synced like every other (issue #7).
import type {ClusterConfig, StripeNode} from '../config/schema.js'
import type {AdminClient} from '../protocol/admin-client.js'
import {OperationError, formatHostPort, type NodeStatus} from '../protocol/index.js'

export interface Member {
  nodeId: string
  host: string
  port: number
}

/** The members a stripe role may go to: the primary (or a standalone node itself) and the registered servers. */
export function members(config: ClusterConfig, self: Member): Member[] {
  const list: Member[] = config.primary ? [{nodeId: config.primary.nodeId, host: config.primary.host, port: config.primary.port}] : [self]
  for (const s of config.servers) if (!list.some((m) => m.nodeId === s.nodeId)) list.push({nodeId: s.nodeId, host: s.host, port: s.port})
  return list
}

export function findMember(config: ClusterConfig, self: Member, target: {host: string; port: number}): Member {
  const m = members(config, self).find((x) => x.host === target.host && x.port === target.port)
  if (m) return m
  throw new OperationError('invalid', `${formatHostPort(target.host, target.port)} is not a member of this cluster`, `add it first with \`cluster add-server ${formatHostPort(target.host, target.port)}\`; members: ${members(config, self).map((x) => formatHostPort(x.host, x.port)).join(', ')}`)
}

const UNITS: Record<string, number> = {'': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5}

/** Parses BYTES or a size with a binary suffix (10G, 512M, 1.5T; an optional trailing B or iB). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim())
  const bytes = m ? Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]) : NaN
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new OperationError('invalid', `--capacity "${text}" is not a size`, 'give bytes or a size such as 500G, 2T or 10737418240')
  return bytes
}

export function enableStripe(config: ClusterConfig, gateway: Member, opts: {replicas?: number; port?: number}): void {
  const s = config.stripe
  s.enabled = true
  s.gateway = {nodeId: gateway.nodeId, host: gateway.host, port: gateway.port}
  if (opts.replicas !== undefined) s.replicas = opts.replicas
  if (opts.port !== undefined) s.port = opts.port
  if (s.nodes.length > 0 && s.replicas > s.nodes.length) {
    throw new OperationError('invalid', `--replicas ${s.replicas} needs at least ${s.replicas} storage nodes; the stripe has ${s.nodes.length}`, 'add nodes first with `cluster stripe add-node HOST`')
  }
}

export function disableStripe(config: ClusterConfig): boolean {
  const was = config.stripe.enabled
  config.stripe.enabled = false
  config.stripe.gateway = null
  return was
}

/** Adds a storage node, or updates its cap when it is one already (idempotent re-runs). */
export function addStripeNode(config: ClusterConfig, member: Member, capacityBytes: number | null): {node: StripeNode; added: boolean} {
  const existing = config.stripe.nodes.find((n) => n.nodeId === member.nodeId)
  if (existing) {
    // a re-run also takes a draining node back (it stops an interrupted `stripe remove-node`)
    existing.state = 'active'
    existing.capacityBytes = capacityBytes
    existing.host = member.host
    existing.port = member.port
    return {node: existing, added: false}
  }
  const node: StripeNode = {nodeId: member.nodeId, host: member.host, port: member.port, capacityBytes, state: 'active'}
  config.stripe.nodes.push(node)
  return {node, added: true}
}

/** The storage node at an admin address, if it is one. */
export function stripeNodeAt(config: ClusterConfig, target: {host: string; port: number}): StripeNode | undefined {
  return config.stripe.nodes.find((n) => n.host === target.host && n.port === target.port)
}

/** `stripe remove-node`, first step: the node takes no new files (placement skips it) while it is emptied. */
export function markDraining(config: ClusterConfig, nodeId: string): void {
  const n = config.stripe.nodes.find((x) => x.nodeId === nodeId)
  if (n) n.state = 'draining'
}

/** `stripe remove-node`, last step, once the gateway has moved its files: the node leaves the stripe. Refused
 *  when it was taken back (`add-node`) meanwhile, since files may have gone to it since the drain. */
export function dropStripeNode(config: ClusterConfig, nodeId: string): void {
  const n = config.stripe.nodes.find((x) => x.nodeId === nodeId)
  if (!n) return
  if (n.state !== 'draining') throw new OperationError('conflict', `${formatHostPort(n.host, n.port)} was made active again while it was being removed`, `run \`cluster stripe remove-node ${formatHostPort(n.host, n.port)}\` again to remove it`)
  config.stripe.nodes = config.stripe.nodes.filter((x) => x.nodeId !== nodeId)
}

/** The node an admin client is connected to, as a member (a standalone node is not listed in its config). */
export async function connectedMember(client: AdminClient, target: {host: string; port: number}): Promise<Member> {
  const status = await client.exec<NodeStatus>('status', null)
  return {nodeId: status.nodeId, host: target.host, port: target.port}
}

/** Bytes for people: 1.5 GiB, 512 MiB, 20 B. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i += 1
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}
