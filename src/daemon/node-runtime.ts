// The state of a running node that the admin endpoint and the health endpoint report and change:
// role, status document, configuration writes (local and pushed), exec actions.
import {REDACTED, SCHEMA_VERSION, type ClusterConfig} from '../config/schema.js'
import type {NodeSettings} from '../config/node-dir.js'
import type {ConfigStore} from '../config/store.js'
import {contentHash} from '../config/canonical-json.js'
import type {Defender} from '../net/defender.js'
import {IpFilter} from '../net/ip-filter.js'
import {
  OperationError,
  formatHostPort,
  type NodeStatus,
  type Role,
  type ServersDocument,
  type ServiceState,
} from '../protocol/index.js'
import type {Logger} from './log.js'

export const VERSION = '0.1.0'

/** Who is acting on the admin endpoint. */
export interface Actor {
  user: string
  /** `admin` for admin users, `cluster` for the primary's cluster key. */
  kind: 'admin' | 'cluster'
  address: string
  /** For `cluster`: the member's public key it authenticated with. */
  key?: string
}

export interface ExecContext {
  actor: Actor
  /** Sends a progress event to the client. */
  progress(step: string, message: string, done?: boolean): void
}

export type ExecHandler = (args: Record<string, unknown>, ctx: ExecContext) => Promise<unknown>

/** A long-lived exec channel the handler reads and writes itself (the striped cluster's node link). */
export type ChannelHandler = (channel: import('ssh2').ServerChannel, actor: Actor) => void

/** This node's keys: the admin host key's fingerprint and the cluster key it uses as a primary. */
export interface NodeIdentity {
  hostKeyFingerprint: string
  clusterPublicKey: string
  clusterPrivateKey: string
}

/** Decides whether a pushed configuration may replace the current one (the fence against a stale primary). */
export function fenceCheck(incoming: ClusterConfig, current: ClusterConfig, currentHash = contentHash(current)): void {
  if (incoming.epoch > current.epoch) return
  if (incoming.epoch < current.epoch) {
    throw new OperationError('fenced', `refused: epoch ${incoming.epoch} is older than this node's epoch ${current.epoch} (a newer primary was promoted)`, 'this primary is stale; make changes on the current primary')
  }
  if (incoming.revision > current.revision) return
  // Same revision, different content: a hand-edited secondary is repaired by overwriting it.
  if (incoming.revision === current.revision && contentHash(incoming) !== currentHash) return
  if (incoming.revision === current.revision) {
    throw new OperationError('fenced', `refused: revision ${incoming.revision} is already in effect`, 'nothing to do')
  }
  throw new OperationError('fenced', `refused: revision ${incoming.revision} is older than this node's revision ${current.revision}`, 'push the current configuration')
}

export class NodeRuntime {
  readonly startedAt = Date.now()
  readonly exec = new Map<string, ExecHandler>()
  readonly channels = new Map<string, ChannelHandler>()
  readonly serviceStates = new Map<string, () => ServiceState>()
  /** Last time the primary confirmed this node identical (secondary) — set by the sync engine. */
  lastSynchronized: string | null = null
  private drainingNow = false
  private readonly drainListeners: ((draining: boolean) => void)[] = []
  /** Extra lines for /healthz (a worker restarted, …); the node stays healthy. */
  healthNotes: () => string[] = () => []
  /** Filled in by the sync engine on the primary. */
  serversDocument: () => ServersDocument = () => ({revision: this.config.revision, epoch: this.config.epoch, servers: []})

  constructor(
    readonly dataDir: string,
    readonly settings: NodeSettings,
    readonly store: ConfigStore,
    readonly defender: Defender,
    readonly log: Logger,
    readonly identity: NodeIdentity,
  ) {}

  get draining(): boolean {
    return this.drainingNow
  }

  set draining(value: boolean) {
    if (value === this.drainingNow) return
    this.drainingNow = value
    for (const l of this.drainListeners) l(value)
  }

  onDrainingChange(listener: (draining: boolean) => void): void {
    this.drainListeners.push(listener)
  }

  get config(): ClusterConfig {
    return this.store.current
  }

  role(config = this.config): Role {
    if (!config.primary) return 'standalone'
    return config.primary.nodeId === this.settings.nodeId ? 'primary' : 'secondary'
  }

  services(): Record<string, ServiceState> {
    const out: Record<string, ServiceState> = {}
    for (const [name, state] of this.serviceStates) out[name] = this.draining && state() === 'up' ? 'draining' : state()
    return out
  }

  status(): NodeStatus {
    const c = this.config
    return {
      nodeId: this.settings.nodeId,
      version: VERSION,
      schemaVersion: SCHEMA_VERSION,
      role: this.role(),
      clusterId: c.clusterId,
      epoch: c.epoch,
      revision: c.revision,
      hash: this.store.hash,
      primary: c.primary ? {host: c.primary.host, port: c.primary.port, nodeId: c.primary.nodeId} : null,
      lastSynchronized: this.role() === 'secondary' ? this.lastSynchronized : null,
      services: this.services(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      bind: this.settings.bind,
      draining: this.draining,
      clusterPublicKey: this.identity.clusterPublicKey,
      ftp: {
        enabled: c.sites.files.ftp.enabled,
        port: c.sites.files.ftp.port,
        advertise: this.settings.externalAddress ?? this.settings.bind,
        pasvPortMin: this.settings.pasvPorts?.min ?? c.sites.files.ftp.pasvPortMin,
        pasvPortMax: this.settings.pasvPorts?.max ?? c.sites.files.ftp.pasvPortMax,
      },
      hostKeyFingerprint: this.identity.hostKeyFingerprint,
      time: new Date().toISOString(),
    }
  }

  /** The refusal a secondary gives to changes that do not come from its primary. */
  notPrimaryError(): OperationError {
    const p = this.config.primary!
    return new OperationError(
      'not-primary',
      `this node is a secondary of cluster ${this.config.clusterId}; make changes on the primary ${formatHostPort(p.host, p.port)}`,
      `run the command with --primary ${formatHostPort(p.host, p.port)}`,
    )
  }

  /**
   * A configuration document written to /config/current.json. Admins change the configuration of a
   * standalone node or the primary (revision bump, `baseRevision` required); the primary's cluster key
   * replaces a secondary's configuration (fenced).
   */
  async writeConfig(text: string, actor: Actor): Promise<ClusterConfig> {
    let doc: Record<string, unknown>
    try {
      doc = JSON.parse(text) as Record<string, unknown>
    } catch (error) {
      throw new OperationError('invalid', `the configuration is not valid JSON (${(error as Error).message})`, 'fix the JSON and write it again')
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new OperationError('invalid', 'the configuration must be a JSON object')
    if (actor.kind === 'cluster') return this.applyPush(doc, actor)
    if (this.role() === 'secondary') throw this.notPrimaryError()
    const base = doc.baseRevision
    if (typeof base !== 'number' || !Number.isInteger(base)) {
      throw new OperationError('invalid', 'baseRevision is missing: a write must say which revision it was based on', 'set "baseRevision" to the "revision" you read, then write again')
    }
    const current = this.config
    for (const field of ['clusterId', 'epoch', 'primary'] as const) {
      if (JSON.stringify(doc[field]) !== JSON.stringify(current[field])) {
        throw new OperationError('invalid', `${field} is managed by the cluster and cannot be changed by a configuration write`, `keep "${field}" as it is (${JSON.stringify(current[field])})`)
      }
    }
    // A configuration read without secrets can be written back: redacted secrets keep their current value.
    const si = doc.serviceIdentity as Record<string, unknown> | undefined
    if (si && typeof si === 'object') {
      if (si.sftpHostKey === REDACTED) si.sftpHostKey = current.serviceIdentity.sftpHostKey
      if (si.tlsKey === REDACTED) si.tlsKey = current.serviceIdentity.tlsKey
    }
    // An optional one-line summary from the writer ("users add alice") for history and audit.
    const summary = typeof doc.changeSummary === 'string' && doc.changeSummary.trim() !== '' ? doc.changeSummary.trim().slice(0, 200) : 'configuration written'
    delete doc.changeSummary
    return this.store.change(() => doc as unknown as ClusterConfig, {by: actor.user, from: actor.address, summary}, base)
  }

  /** A configuration pushed by the primary (cluster key): accepted only if not older (fencing). */
  async applyPush(doc: Record<string, unknown>, actor: Actor): Promise<ClusterConfig> {
    const applied = await this.store.replace(doc, {by: actor.user, from: actor.address, summary: `pushed by the primary`}, (incoming, current) => {
      if (!incoming.primary || incoming.primary.clusterPublicKey !== actor.key) {
        throw new OperationError('refused', 'refused: only the primary named in a configuration may push it', 'push from the primary')
      }
      if (incoming.primary.nodeId === this.settings.nodeId) {
        throw new OperationError('refused', 'refused: the pushed configuration names this node as its primary', 'use `cluster promote` to make a secondary the primary')
      }
      if (!incoming.servers.some((s) => s.nodeId === this.settings.nodeId)) {
        throw new OperationError('refused', 'refused: this node is not a registered server in the pushed configuration', 'add it with `cluster add-server`')
      }
      if (!new IpFilter(incoming.sites.admin.ipFilter).allows(actor.address)) {
        throw new OperationError('invalid', `refused: the new admin IP filter would lock the primary (${actor.address}) out of this node`, `add an allow rule for ${actor.address} to the admin site`)
      }
      if (current.primary && incoming.clusterId !== current.clusterId && incoming.epoch <= current.epoch) {
        throw new OperationError('fenced', `refused: configuration of cluster ${incoming.clusterId}, this node belongs to cluster ${current.clusterId}`, 'remove the server from its cluster first')
      }
      fenceCheck(incoming, current, this.store.hash)
    })
    this.lastSynchronized = new Date().toISOString()
    return applied
  }
}
