// The gateway: the catalogue, the links to the storage nodes, placement, and the FTP engine listening on
// `stripe.port` (explicit FTPS) with the gateway's data verbs and the catalogue-backed session. Same
// connection gate, defender, IP filter (files site) and PROXY support as every listener.
import type {ClusterConfig} from '../config/schema.js'
import {FtpService} from '../daemon/ftp/ftp-service.js'
import {SftpService} from '../daemon/sftp/sftp-service.js'
import type {Logger} from '../daemon/log.js'
import type {Service, ServiceContext} from '../daemon/service.js'
import type {ServiceState, StripeStatus} from '../protocol/index.js'
import type {ChoosePlacement, NodeSpace, PlacementCandidate} from './contract.js'
import path from 'node:path'
import type {Gateway} from './chain.js'
import {gatewayCommands} from './gateway-commands.js'
import {GatewaySession} from './gateway-session.js'
import {openCatalogue, type SqliteCatalogue} from './catalogue.js'
import {StripeMaintenance} from './maintenance.js'
import {StripeRelocation} from './relocation.js'
import {buildStripeStatus} from './status.js'
import {createPlacement} from './placement.js'
import {NodeLinks} from './node-links.js'
import {stripeTlsContext} from './tls-keys.js'

/** How often the gateway re-reads the nodes' space (placement also counts its own writes in between). */
const SPACE_REFRESH_MS = 5000

export class GatewayService implements Service, Gateway {
  readonly name = 'stripe-gateway'
  readonly catalogue: SqliteCatalogue
  readonly maintenance: StripeMaintenance
  /** remove-node's drain and rebalance: files moved node to node, verified, then switched in the catalogue. */
  readonly relocation: StripeRelocation
  readonly links: NodeLinks
  readonly busy = new Set<string>()
  readonly log: Logger
  readonly bind: string
  readonly dataTimeoutMs: number
  readonly spoolDir: string
  private readonly ftp: FtpService
  private readonly sftp: SftpService
  private readonly spaces = new Map<string, NodeSpace>()
  private spaceTimer: NodeJS.Timeout | null = null
  private tlsSource = ''
  private tlsContext: ReturnType<typeof stripeTlsContext> | null = null
  private readonly startedPort: number
  private readonly startedSftpPort: number
  private readonly placement: ChoosePlacement = createPlacement()

  constructor(
    private readonly ctx: ServiceContext,
    clusterKey: string,
    options: {dataTimeoutMs?: number; catalogue?: SqliteCatalogue} = {},
  ) {
    this.log = ctx.log.child('stripe-gateway')
    this.bind = ctx.settings.bind
    this.dataTimeoutMs = options.dataTimeoutMs ?? 15_000
    this.spoolDir = path.join(ctx.dataDir, 'stripe', 'spool')
    this.catalogue = options.catalogue ?? openCatalogue(path.join(ctx.dataDir, 'stripe', 'catalogue.db'))
    this.links = new NodeLinks(() => ctx.store.current, clusterKey, ctx.settings.bind, this.log)
    this.links.onChange((nodeId, up) => {
      if (up) void this.refreshSpace(nodeId)
    })
    this.startedPort = ctx.store.current.stripe.port
    this.startedSftpPort = ctx.store.current.stripe.sftpPort
    this.maintenance = new StripeMaintenance({catalogue: this.catalogue, links: this.links, log: this.log, settings: () => this.config().stripe, choose: (size, exclude) => this.choose(size, exclude), busy: this.busy})
    this.relocation = new StripeRelocation({
      catalogue: this.catalogue,
      links: this.links,
      log: this.log,
      settings: () => this.config().stripe,
      busy: this.busy,
      space: (id) => this.spaces.get(id),
      refreshSpace: () => this.refreshSpace(),
      stored: (id, delta) => this.stored(id, delta),
      exclusive: (fn) => this.maintenance.exclusive(fn),
    })
    this.ftp = new FtpService(ctx, {
      name: 'stripe-ftp',
      listeners: (config) => [{port: config.stripe.port, implicit: false}],
      commands: gatewayCommands(this),
      tls: () => this.tls(),
      openSession: async (user) => new GatewaySession(user, this),
      dataTimeoutMs: this.dataTimeoutMs,
    })
    // the same virtual tree over SFTP, relayed (staged in the spool) through the gateway
    this.sftp = new SftpService(ctx, false, {
      name: 'stripe-sftp',
      port: (config) => config.stripe.sftpPort,
      openSession: async (user) => new GatewaySession(user, this),
    })
  }

  private config(): ClusterConfig {
    return this.ctx.store.current
  }

  private tls() {
    const c = this.config()
    const source = c.serviceIdentity.tlsCert + c.serviceIdentity.tlsKey
    if (!this.tlsContext || source !== this.tlsSource) {
      this.tlsContext = stripeTlsContext(c)
      this.tlsSource = source
    }
    return this.tlsContext
  }

  replicas(): number {
    return this.config().stripe.replicas
  }

  private candidates(): PlacementCandidate[] {
    return this.config().stripe.nodes.map((n) => {
      const space = this.spaces.get(n.nodeId)
      return {nodeId: n.nodeId, up: Boolean(this.links.get(n.nodeId)?.up && space), draining: n.state === 'draining', capacityBytes: space?.capacityBytes ?? 0, usedBytes: space?.usedBytes ?? 0}
    })
  }

  choose(sizeHint: number, exclude: ReadonlySet<string>): string[] {
    return this.placement(this.candidates(), {replicas: this.replicas(), sizeHint, floorBytes: this.config().stripe.freeSpaceFloorBytes, exclude})
  }

  takesNewFiles(nodeId: string): boolean {
    return this.config().stripe.nodes.some((n) => n.nodeId === nodeId && n.state === 'active')
  }

  stored(nodeId: string, deltaBytes: number): void {
    const s = this.spaces.get(nodeId)
    if (!s) return
    s.usedBytes += deltaBytes
    s.freeBytes = Math.max(0, s.capacityBytes - s.usedBytes)
  }

  private async refreshSpace(nodeId?: string): Promise<void> {
    const links = nodeId ? [this.links.get(nodeId)].filter((l) => l !== undefined) : this.links.all()
    await Promise.allSettled(links.filter((l) => l.up).map(async (l) => this.spaces.set(l.node.nodeId, await l.space())))
  }

  /** `cluster stripe status`: fresh space reports from the nodes that are up, the catalogue for the others. */
  async stripeStatus(): Promise<StripeStatus> {
    await this.refreshSpace()
    const settings = this.config().stripe
    const stats = this.catalogue.stats()
    const up = settings.nodes.map((n) => n.nodeId).filter((id) => this.links.get(id)?.up)
    const seen = settings.nodes.map((n) => ({nodeId: n.nodeId, up: up.includes(n.nodeId), space: this.spaces.get(n.nodeId) ?? null, catalogue: stats.perNode.get(n.nodeId)}))
    return buildStripeStatus(settings, seen, stats.files, this.catalogue.countUnderReplicated(settings.replicas, up))
  }

  /** Every configured node's link is up and its space known. */
  allLinksUp(): boolean {
    return this.config().stripe.nodes.every((n) => this.links.get(n.nodeId)?.up && this.spaces.has(n.nodeId))
  }

  needsRestart(config: ClusterConfig): boolean {
    return config.stripe.port !== this.startedPort || config.stripe.sftpPort !== this.startedSftpPort
  }

  async start(): Promise<void> {
    this.links.sync(this.config().stripe.nodes)
    this.spaceTimer = setInterval(() => void this.refreshSpace(), SPACE_REFRESH_MS)
    this.spaceTimer.unref()
    // rescan of an empty catalogue, remerge of returning nodes, re-replication after the grace period
    this.maintenance.start()
    await this.ftp.start()
    try {
      await this.sftp.start()
    } catch (error) {
      await this.ftp.stop(500)
      throw error
    }
  }

  async stop(deadlineMs = 5000): Promise<void> {
    if (this.spaceTimer) clearInterval(this.spaceTimer)
    this.maintenance.close()
    this.relocation.close()
    await Promise.allSettled([this.ftp.stop(deadlineMs), this.sftp.stop(deadlineMs)])
    this.links.close()
    this.catalogue.close()
  }

  reload(config: ClusterConfig, previous?: ClusterConfig): void {
    this.links.sync(config.stripe.nodes)
    void this.ftp.reload(config, previous ?? config)
    void this.sftp.reload(config, previous ?? config)
  }

  /** `starting` until every storage node is linked (placement would otherwise skip it). */
  status(): ServiceState {
    const s = this.ftp.status()
    return s === 'up' && !this.allLinksUp() ? 'starting' : s
  }
}
