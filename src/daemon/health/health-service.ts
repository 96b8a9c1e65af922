// The HTTP health endpoint for load balancers: GET /healthz → 200 when every enabled service is up and the
// node is not draining, 503 otherwise; the body says why. GET /livez → 200 while the process runs.
import http from 'node:http'
import type {ServiceState} from '../../protocol/index.js'
import type {Socket} from 'node:net'
import {DEFAULT_LIMITS} from '../../config/defaults.js'
import type {LimitSettings} from '../../config/schema.js'
import {ConnectionGate} from '../../net/connection-gate.js'
import {listen} from '../listen.js'
import type {NodeRuntime} from '../node-runtime.js'
import type {Service} from '../service.js'

/** Load balancers open one or two connections per check: 16 per address, 256 in all. */
export const HEALTH_LIMITS: LimitSettings = {...DEFAULT_LIMITS, perAddress: 16, total: 256, unauthenticatedPerAddress: 16}
/** A connection with no traffic for this long is closed (nothing sent at all, or idle keep-alive). */
const HEALTH_IDLE_MS = 5000

export class HealthService implements Service {
  readonly name = 'health'
  private state: ServiceState = 'starting'
  private readonly server: http.Server

  private readonly gate: ConnectionGate

  constructor(private readonly node: NodeRuntime) {
    // Node checks header/request timeouts every connectionsCheckingInterval (30 s by default): check often,
    // so a slow or idle request is cut at the configured 5 s, not at 30.
    this.server = http.createServer({connectionsCheckingInterval: 500}, (req, res) => this.handle(req, res))
    this.server.keepAliveTimeout = 5000
    this.server.headersTimeout = 5000
    this.server.requestTimeout = 5000
    this.server.maxRequestsPerSocket = 100
    // The same gate as every listener (bans, then limits) before a byte is read; health checks need few sockets.
    this.gate = new ConnectionGate('health', [{action: 'allow', cidr: '0.0.0.0/0'}, {action: 'allow', cidr: '::/0'}], HEALTH_LIMITS, node.defender)
    this.server.on('connection', (socket: Socket) => {
      const admission = this.gate.admit(socket)
      if (!admission.ok) {
        node.log.debug('health connection refused', {address: admission.address, reason: admission.reason})
        socket.destroy()
        return
      }
      admission.authenticated()
      socket.setTimeout(HEALTH_IDLE_MS, () => socket.destroy())
      socket.once('close', () => admission.release())
    })
  }

  async start(): Promise<void> {
    await listen(this.server, this.node.settings.bind, this.node.settings.healthPort, 'health endpoint')
    this.state = 'up'
  }

  async stop(): Promise<void> {
    this.state = 'down'
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  reload(): void {}

  status(): ServiceState {
    return this.state
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, 405, {error: 'only GET and HEAD'})
    if (url === '/livez') return this.send(res, 200, {status: 'alive'})
    if (url !== '/healthz' && url !== '/readyz') return this.send(res, 404, {error: 'not found; try /healthz'})
    const status = this.node.status()
    const problems = Object.entries(status.services)
      .filter(([, s]) => s !== 'up' && s !== 'disabled')
      .map(([name, s]) => `${name} is ${s}`)
    if (status.draining) problems.unshift('draining: not taking new sessions')
    const healthy = problems.length === 0
    this.send(res, healthy ? 200 : 503, {
      status: healthy ? 'ok' : 'unavailable',
      nodeId: status.nodeId,
      role: status.role,
      revision: status.revision,
      epoch: status.epoch,
      services: status.services,
      problems,
      notes: this.node.healthNotes(),
    }, req.method === 'HEAD')
  }

  private send(res: http.ServerResponse, code: number, body: unknown, headOnly = false): void {
    const text = JSON.stringify(body) + '\n'
    res.writeHead(code, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store'})
    res.end(headOnly ? undefined : text)
  }
}
