// The HTTP health endpoint for load balancers: GET /healthz → 200 when every enabled service is up and the
// node is not draining, 503 otherwise; the body says why. GET /livez → 200 while the process runs.
import http from 'node:http'
import type {ServiceState} from '../../protocol/index.js'
import {listen} from '../listen.js'
import type {NodeRuntime} from '../node-runtime.js'
import type {Service} from '../service.js'

export class HealthService implements Service {
  readonly name = 'health'
  private state: ServiceState = 'starting'
  private readonly server: http.Server

  constructor(private readonly node: NodeRuntime) {
    this.server = http.createServer((req, res) => this.handle(req, res))
    this.server.keepAliveTimeout = 5000
    this.server.headersTimeout = 5000
    this.server.requestTimeout = 5000
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
