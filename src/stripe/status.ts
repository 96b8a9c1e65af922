// The numbers of `cluster stripe status`: per node from its own space report (or the last one, when it is
// down) and the catalogue's count of its files; totals over the nodes that are up (issue #7).
import type {StripeSettings} from '../config/schema.js'
import {formatHostPort, type StripeNodeStatus, type StripeStatus} from '../protocol/index.js'
import type {NodeSpace} from './contract.js'

export interface NodeObservation {
  nodeId: string
  up: boolean
  /** Its latest space report, or null if it never answered. */
  space: NodeSpace | null
  /** What the catalogue places on it. */
  catalogue: {files: number; bytes: number} | undefined
}

export function buildStripeStatus(settings: StripeSettings, seen: NodeObservation[], files: number, underReplicated: number): StripeStatus {
  const byId = new Map(seen.map((o) => [o.nodeId, o]))
  const nodes: StripeNodeStatus[] = settings.nodes.map((n) => {
    const o = byId.get(n.nodeId)
    const capacityBytes = o?.space?.capacityBytes ?? 0
    // a node that is down is counted from the catalogue: its own numbers are unknown
    const usedBytes = o?.up && o.space ? o.space.usedBytes : (o?.catalogue?.bytes ?? 0)
    return {
      host: n.host,
      port: n.port,
      state: !o?.up ? 'down' : n.state === 'draining' ? 'draining' : 'up',
      capacityBytes,
      usedBytes,
      freeBytes: Math.max(0, capacityBytes - usedBytes),
      files: o?.up && o.space ? o.space.files : (o?.catalogue?.files ?? 0),
    }
  })
  const up = nodes.filter((n) => n.state !== 'down')
  const sum = (f: (n: StripeNodeStatus) => number) => up.reduce((a, n) => a + f(n), 0)
  return {
    gateway: settings.gateway ? formatHostPort(settings.gateway.host, settings.port) : '',
    replicas: settings.replicas,
    nodes,
    totals: {capacityBytes: sum((n) => n.capacityBytes), usedBytes: sum((n) => n.usedBytes), freeBytes: sum((n) => n.freeBytes), files},
    underReplicated,
  }
}
