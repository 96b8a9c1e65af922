// The health of the cluster's nodes as their HTTP health endpoints report it (GET /healthz, what a load
// balancer sees), asked in parallel with a short timeout so one dead node does not hold up the report.
import http from 'node:http'
import {formatHostPort, type ServiceState} from '../protocol/index.js'

/** Load balancers give a health check a few seconds; a node slower than that is as good as down. */
export const HEALTH_TIMEOUT_MS = 3000

export interface NodeHealth {
  host: string
  port: number
  role: string
  healthy: boolean
  revision: number | null
  services: Record<string, ServiceState>
  error: string | null
}

export interface ClusterHealth {
  healthy: boolean
  nodes: NodeHealth[]
}

/** The body of GET /healthz (src/daemon/health/health-service.ts). */
interface HealthBody {
  status?: string
  role?: string
  revision?: number
  services?: Record<string, ServiceState>
  problems?: string[]
}

export type HealthAnswer = {statusCode: number; body: string} | {errorCode: string; message: string}

export interface HealthTarget {
  host: string
  /** The admin port, reported as the node's port. */
  port: number
  role: string
}

/** Turns one answer of a health endpoint into the node's entry; `at` names the endpoint in errors. */
export function toNodeHealth(node: HealthTarget, answer: HealthAnswer, at: string, timeoutMs = HEALTH_TIMEOUT_MS): NodeHealth {
  const entry: NodeHealth = {host: node.host, port: node.port, role: node.role, healthy: false, revision: null, services: {}, error: null}
  if ('errorCode' in answer) {
    entry.error = answer.errorCode === 'ECONNREFUSED' ? `nothing is listening on ${at} (connection refused): the node is down or its health port differs`
      : answer.errorCode === 'ETIMEDOUT' ? `no answer from ${at} within ${timeoutMs / 1000} s`
        : `cannot reach ${at}: ${answer.message}`
    return entry
  }
  let body: HealthBody
  try {
    body = JSON.parse(answer.body) as HealthBody
  } catch {
    return {...entry, error: `${at} answered HTTP ${answer.statusCode} without a health document: is it the health port?`}
  }
  entry.revision = typeof body.revision === 'number' ? body.revision : null
  entry.services = body.services ?? {}
  if (node.role === 'unknown' && body.role) entry.role = body.role
  entry.healthy = answer.statusCode === 200 && body.status === 'ok'
  if (!entry.healthy) entry.error = body.problems?.length ? body.problems.join('; ') : `HTTP ${answer.statusCode}`
  return entry
}

export function getHealthz(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<HealthAnswer> {
  return new Promise((resolve) => {
    const req = http.get({host, port, path: '/healthz', localAddress, timeout: timeoutMs, agent: false}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({statusCode: res.statusCode ?? 0, body}))
      res.on('error', (error) => resolve({errorCode: 'error', message: error.message}))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), {code: 'ETIMEDOUT'})))
    req.on('error', (error: NodeJS.ErrnoException) => resolve({errorCode: error.code ?? 'error', message: error.message}))
  })
}

export async function clusterHealth(nodes: HealthTarget[], healthPort: number, opts: {timeoutMs?: number; localAddress?: string} = {}): Promise<ClusterHealth> {
  const timeoutMs = opts.timeoutMs ?? HEALTH_TIMEOUT_MS
  const entries = await Promise.all(nodes.map(async (n) => {
    const answer = await getHealthz(n.host, healthPort, timeoutMs, opts.localAddress)
    return toNodeHealth(n, answer, formatHostPort(n.host, healthPort), timeoutMs)
  }))
  return {healthy: entries.length > 0 && entries.every((e) => e.healthy), nodes: entries}
}
