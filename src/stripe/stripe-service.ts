// The striped cluster on one node: every node answers the gateway's `stripe-link` (cluster actor only; it
// refuses storage work unless it is in `stripe.nodes`), and the node named `stripe.gateway` also runs the
// gateway (FTP on `stripe.port`, SFTP on `stripe.sftpPort`), started and stopped on configuration reload.
import type {ClusterConfig} from '../config/schema.js'
import type {NodeRuntime} from '../daemon/node-runtime.js'
import type {Service} from '../daemon/service.js'
import {OperationError, formatHostPort, type ServiceState, type StripeDrainReport, type StripeRebalanceResult, type StripeRescanResult, type StripeVerifyResult} from '../protocol/index.js'
import {GatewayService} from './gateway-service.js'
import {STRIPE_LINK_COMMAND} from './link-protocol.js'
import {StripeNodeSide} from './node-side.js'

function requireAdmin(kind: string): void {
  if (kind !== 'admin') throw new OperationError('refused', 'this action needs an admin user')
}

export function isGateway(config: ClusterConfig, nodeId: string): boolean {
  return config.stripe.enabled && config.stripe.gateway?.nodeId === nodeId
}

export class StripeService implements Service {
  readonly name = 'stripe'
  readonly nodeSide: StripeNodeSide
  private gateway: GatewayService | null = null
  private state: ServiceState = 'down'
  /** Serialises gateway start/stop across quick reloads. */
  private chain: Promise<void> = Promise.resolve()

  constructor(private readonly runtime: NodeRuntime) {
    this.nodeSide = new StripeNodeSide(runtime.settings, () => runtime.config, runtime.log.child('stripe'))
    runtime.channels.set(STRIPE_LINK_COMMAND, (channel, actor) => {
      if (actor.kind !== 'cluster') {
        channel.write(JSON.stringify({id: 0, error: {message: 'stripe-link is for cluster members only'}}) + '\n')
        channel.exit(1)
        return void channel.end()
      }
      this.nodeSide.handle(channel, actor.address)
    })
    // catalogue operations run where the catalogue is: the CLI follows stripe.gateway to this node
    runtime.exec.set('stripe-status', async (_args, ctx) => {
      requireAdmin(ctx.actor.kind)
      return this.runningGateway().stripeStatus()
    })
    runtime.exec.set('stripe-rescan', async (_args, ctx) => {
      requireAdmin(ctx.actor.kind)
      const r = await this.runningGateway().maintenance.rescan((m) => ctx.progress('rescan', m))
      const addr = (id: string) => {
        const n = this.storageNode(id)
        return n.port ? formatHostPort(n.host, n.port) : id
      }
      return {...r, nodes: r.nodes.map(addr), skippedNodes: r.skippedNodes.map(addr)} satisfies StripeRescanResult
    })
    runtime.exec.set('stripe-verify', async (_args, ctx) => {
      requireAdmin(ctx.actor.kind)
      const r = await this.runningGateway().maintenance.verify((m) => ctx.progress('verify', m))
      return {...r, mismatches: r.mismatches.map(({nodeId, ...m}) => ({...m, host: this.storageNode(nodeId).host, port: this.storageNode(nodeId).port}))} satisfies StripeVerifyResult
    })
    runtime.exec.set('stripe-remove-node', async (args, ctx) => {
      requireAdmin(ctx.actor.kind)
      const gw = this.runningGateway()
      const {host, port} = args as {host?: unknown; port?: unknown}
      if (typeof host !== 'string' || typeof port !== 'number') throw new OperationError('invalid', 'stripe-remove-node needs {host, port}')
      const node = this.runtime.config.stripe.nodes.find((n) => n.host === host && n.port === port)
      if (!node) throw new OperationError('refused', `${formatHostPort(host, port)} is not a storage node in the gateway's configuration`, 'run `cluster stripe status` to see the storage nodes')
      const r = await gw.relocation.drain(node.nodeId, {force: args.force === true, dryRun: args.dryRun === true}, (m) => ctx.progress('drain', m))
      return {...r, node: formatHostPort(host, port)} satisfies StripeDrainReport
    })
    runtime.exec.set('stripe-rebalance', async (_args, ctx) => {
      requireAdmin(ctx.actor.kind)
      const r = await this.runningGateway().relocation.rebalance((m) => ctx.progress('rebalance', m))
      return {...r, nodes: r.nodes.map(({nodeId, ...n}) => ({...this.storageNode(nodeId), ...n}))} satisfies StripeRebalanceResult
    })
  }

  /** A storage node's admin address by id (port 0 if it has left the configuration). */
  private storageNode(id: string): {host: string; port: number} {
    return this.runtime.config.stripe.nodes.find((x) => x.nodeId === id) ?? {host: id, port: 0}
  }

  private runningGateway(): GatewayService {
    if (this.gateway) return this.gateway
    const g = this.runtime.config.stripe.gateway
    throw new OperationError('refused', g ? `this node is not running the gateway (it is ${formatHostPort(g.host, g.port)})` : 'the striped cluster is not enabled', g ? 'ask the gateway' : 'enable it with `cluster stripe enable HOST`')
  }

  /** The running gateway (tests and status). */
  get gatewayService(): GatewayService | null {
    return this.gateway
  }

  async start(): Promise<void> {
    await this.applyGateway(this.runtime.config)
    this.state = 'up'
  }

  async stop(deadlineMs = 5000): Promise<void> {
    this.nodeSide.close()
    await this.enqueue(async () => {
      await this.gateway?.stop(deadlineMs)
      this.gateway = null
    })
    this.state = 'down'
  }

  reload(config: ClusterConfig): Promise<void> {
    this.nodeSide.reload(config)
    return this.applyGateway(config)
  }

  status(): ServiceState {
    if (!this.runtime.config.stripe.enabled) return 'disabled'
    return this.gateway ? this.gateway.status() : this.state
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn)
    this.chain = next.catch(() => {})
    return next
  }

  private applyGateway(config: ClusterConfig): Promise<void> {
    return this.enqueue(async () => {
      const want = isGateway(config, this.runtime.settings.nodeId)
      if (want && this.gateway?.needsRestart(config)) {
        await this.gateway.stop(2000)
        this.gateway = null
      }
      if (want && !this.gateway) {
        const g = new GatewayService(
          {dataDir: this.runtime.dataDir, settings: this.runtime.settings, store: this.runtime.store, defender: this.runtime.defender, log: this.runtime.log, draining: () => this.runtime.draining},
          this.runtime.identity.clusterPrivateKey,
        )
        await g.start()
        this.gateway = g
      } else if (want && this.gateway) {
        this.gateway.reload(config)
      } else if (!want && this.gateway) {
        await this.gateway.stop(5000)
        this.gateway = null
      }
    })
  }
}
