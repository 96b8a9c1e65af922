// The state of a running node that the admin endpoint and the health endpoint report and change:
// role, status document, configuration writes (local and pushed), exec actions.
import {REDACTED, SCHEMA_VERSION, type ClusterConfig} from '../config/schema.js'
import type {NodeSettings} from '../config/node-dir.js'
import type {ConfigStore} from '../config/store.js'
import {HASH_FORMAT, configHash as contentHash} from '../config/config-text.js'
import {applyPatch, PatchError, type PatchOp} from '../config/config-patch.js'
import type {Defender} from '../net/defender.js'
import {IpFilter} from '../net/ip-filter.js'
import {
  DELTA_FORMAT,
  OperationError,
  formatHostPort,
  type ConfigDelta,
  type CommitReport,
  type NodeProblem,
  type NodeStatus,
  type Role,
  type ServersDocument,
  type ServiceState,
} from '../protocol/index.js'
import type {Logger} from './log.js'

export const VERSION = '0.1.0'

/** Web signing keys read without secrets and written back keep their secrets (matched by key id). */
function restoreRedactedWebKeys(doc: unknown, current: {id: string; secret: string}[]): void {
  const list = (doc as {keys?: unknown} | undefined)?.keys
  if (!Array.isArray(list)) return
  for (const k of list as {id?: unknown; secret?: unknown}[]) {
    if (k && k.secret === REDACTED) {
      const mine = current.find((c) => c.id === k.id)
      if (mine) k.secret = mine.secret
    }
  }
}

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

/**
 * Decides whether a pushed configuration may replace the current one (the fence against a stale primary).
 * `repair`: the same epoch, revision and content as in effect (the file on disk may still need rewriting).
 * The same epoch and revision with other content is a conflict (two primaries in one epoch), never a repair.
 */
export function fenceCheck(incoming: ClusterConfig, current: ClusterConfig, currentHash = contentHash(current), promisedEpoch = 0): 'apply' | 'repair' {
  if (incoming.epoch < promisedEpoch) {
    throw new OperationError('fenced', `refused: epoch ${incoming.epoch} is older than epoch ${promisedEpoch}, which this node promised to a new primary`, 'this primary is stale; make changes on the current primary')
  }
  if (incoming.epoch > current.epoch) return 'apply'
  if (incoming.epoch < current.epoch) {
    throw new OperationError('fenced', `refused: epoch ${incoming.epoch} is older than this node's epoch ${current.epoch} (a newer primary was promoted)`, 'this primary is stale; make changes on the current primary')
  }
  if (incoming.revision > current.revision) return 'apply'
  if (incoming.revision === current.revision) {
    if (contentHash(incoming) === currentHash) return 'repair'
    throw new OperationError('conflict', `refused: revision ${incoming.revision} of epoch ${incoming.epoch} is in effect here with other content: two primaries wrote the same epoch and revision; this is a conflict, not a repair`, 'run `cluster diagnose`; promote one primary and make the change again there')
  }
  throw new OperationError('fenced', `refused: revision ${incoming.revision} is older than this node's revision ${current.revision}`, 'push the current configuration')
}

/**
 * The revisions in `history` (of older epochs) that the incoming lineage never had: from `incoming.epochs`,
 * revision r of epoch e belongs to it only if r is below the first revision of the next epoch.
 */
export function divergedRevisions(history: ClusterConfig[], incoming: ClusterConfig): ClusterConfig[] {
  return history.filter((h) => {
    if (h.epoch >= incoming.epoch || h.clusterId !== incoming.clusterId) return false
    const next = incoming.epochs.find((e) => e.epoch > h.epoch)
    return next !== undefined && h.revision >= next.revision
  })
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
  /** The highest epoch promised to a promote candidate (set by the cluster's promise book). */
  promisedEpoch: () => number = () => 0
  /** The last commit's report and the node's known problems (set by the sync engine). */
  commitReport: () => CommitReport | null = () => null
  clusterProblems: () => NodeProblem[] = () => []
  /** Called after a demotion kept revisions in config/diverged/ (the sync engine sends them to the new primary). */
  onDiverged: (configs: ClusterConfig[], primary: NonNullable<ClusterConfig['primary']>) => void = () => {}

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
      hash: this.store.fileHash,
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
      promisedEpoch: this.promisedEpoch(),
      lastCommit: this.role() === 'primary' ? this.commitReport() : null,
      problems: this.problems(),
      deltaSync: DELTA_FORMAT,
      hashFormat: HASH_FORMAT,
    }
  }

  problems(): NodeProblem[] {
    const out = this.clusterProblems()
    const edit = this.store.handEdit
    if (edit) {
      out.unshift({
        kind: 'hand-edited',
        message: `config/current.json was changed outside the cluster (found ${edit.detectedAt}${edit.fileRevision !== null ? `, revision ${edit.fileRevision}` : ''}): it does not match the recorded revision, so it is not served; revision ${this.config.revision} stays in effect`,
        hint: this.role() === 'secondary' ? 'the primary rewrites the file at its next check (or run `cluster sync`); make changes with the CLI on the primary' : 'make changes with the CLI (`cluster config rollback` restores a kept revision); the file is rewritten at the next change',
      })
    }
    if (this.store.journalProblem) {
      out.unshift({
        kind: 'journal-set-aside',
        message: this.store.journalProblem,
        hint: 'if current.json was restored on purpose, nothing is to be done (remove the set-aside file when it is not needed); otherwise the primary\'s next check brings this node up to date, and the file holds the changes that were not applied',
      })
    }
    return out
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
    // A document read from current.json, edited and put back as it is (stock sftp get/put) carries the revision
    // it was read at: that is its base. An explicit baseRevision wins.
    const base = doc.baseRevision ?? doc.revision
    if (typeof base !== 'number' || !Number.isInteger(base)) {
      throw new OperationError('invalid', 'the document names no revision it is based on (neither "baseRevision" nor "revision")', 'write back the document you read from /config/current.json with its "revision", or set "baseRevision" to it')
    }
    const current = this.config
    for (const field of ['clusterId', 'epoch', 'primary', 'epochs'] as const) {
      if (JSON.stringify(doc[field]) !== JSON.stringify(current[field])) {
        throw new OperationError('invalid', `${field} is managed by the cluster and cannot be changed by a configuration write`, `keep "${field}" as it is (${JSON.stringify(current[field])})`)
      }
    }
    // A configuration read without secrets can be written back: redacted secrets keep their current value.
    const si = doc.serviceIdentity as Record<string, unknown> | undefined
    if (si && typeof si === 'object') {
      if (si.sftpHostKey === REDACTED) si.sftpHostKey = current.serviceIdentity.sftpHostKey
      if (si.tlsKey === REDACTED) si.tlsKey = current.serviceIdentity.tlsKey
      restoreRedactedWebKeys(si.webSigningKeys, current.serviceIdentity.webSigningKeys.keys)
    }
    // An optional one-line summary from the writer ("users add alice") for history and audit.
    const summary = typeof doc.changeSummary === 'string' && doc.changeSummary.trim() !== '' ? doc.changeSummary.trim().slice(0, 200) : 'configuration written'
    delete doc.changeSummary
    return this.store.change(() => doc as unknown as ClusterConfig, {by: actor.user, from: actor.address, summary}, base)
  }

  /** A configuration pushed by the primary (cluster key): accepted only if not older (fencing). */
  async applyPush(doc: Record<string, unknown>, actor: Actor, derivedFrom?: ClusterConfig): Promise<ClusterConfig> {
    await this.store.refreshDiskHash()
    let demotedFrom: ClusterConfig | undefined
    let lost: ClusterConfig[] = []
    const applied = await this.store.replace(doc, {by: actor.user, from: actor.address, summary: `pushed by the primary`}, (incoming, current) => {
      this.checkMemberPush(incoming, current, actor)
      const verdict = fenceCheck(incoming, current, this.store.hash, this.promisedEpoch())
      // The same revision and content: only a rewrite of a hand-edited file is a change.
      if (verdict === 'repair' && this.store.fileHash === this.store.hash) {
        throw new OperationError('fenced', `refused: revision ${incoming.revision} is already in effect`, 'nothing to do')
      }
      if (verdict === 'repair') this.log.warn('repairing config/current.json: the primary rewrites the hand-edited file', {revision: incoming.revision})
      if (incoming.epoch > current.epoch) demotedFrom = current
    }, {derivedFrom, beforeWrite: async (incoming) => {
      if (incoming.epoch > this.config.epoch) lost = await this.keepDiverged(incoming)
    }})
    if (lost.length > 0 && applied.primary) this.onDiverged(lost, applied.primary)
    if (demotedFrom && this.role(demotedFrom) === 'primary') this.log.warn('demoted by a newer epoch', {epoch: applied.epoch, revision: applied.revision})
    this.lastSynchronized = new Date().toISOString()
    return applied
  }

  /**
   * The document a delta from the primary makes of the configuration in effect here. Refused ('delta-base',
   * nothing changed) when this node does not hold the delta's base, or when the result is not the target
   * (its content hash differs): the primary then sends the full document.
   */
  resolveDelta(raw: unknown): {doc: Record<string, unknown>; base: ClusterConfig} {
    const d = raw as Partial<ConfigDelta> | null
    if (!d || typeof d !== 'object' || d.format !== DELTA_FORMAT || !d.base || !d.target || !Array.isArray(d.ops) || typeof d.target.hash !== 'string') {
      throw new OperationError('invalid', `"delta" is missing or not of format ${DELTA_FORMAT}`, 'send the full document')
    }
    const current = this.config
    const {base, target} = d
    if (current.epoch !== base.epoch || current.revision !== base.revision || this.store.hash !== base.hash) {
      throw new OperationError('delta-base', `this node holds revision ${current.revision} of epoch ${current.epoch} (hash ${this.store.hash.slice(0, 12)}), not the delta's base revision ${base.revision} of epoch ${base.epoch} (hash ${String(base.hash).slice(0, 12)}); nothing was applied`, 'send the full document')
    }
    // The commit of a change staged here: the staged document is the target (same hash), already checked.
    const staged = this.store.stagedDocument(target)
    if (staged) return {doc: staged as unknown as Record<string, unknown>, base: current}
    let doc: Record<string, unknown>
    try {
      doc = applyPatch(current as unknown as Record<string, unknown>, d.ops as PatchOp[])
    } catch (error) {
      if (!(error instanceof PatchError)) throw error
      throw new OperationError('delta-base', `the delta does not apply to revision ${current.revision} here (${error.message}); nothing was applied`, 'send the full document')
    }
    const hash = contentHash(doc)
    if (hash !== target.hash || doc.revision !== target.revision || doc.epoch !== target.epoch) {
      throw new OperationError('delta-base', `the delta applied to revision ${current.revision} gives a document with hash ${hash.slice(0, 12)}, not the target's ${target.hash.slice(0, 12)} (revision ${target.revision}); nothing was applied`, 'send the full document')
    }
    return {doc, base: current}
  }

  /** Before a newer epoch replaces this node's lineage: its revisions the new one never had go to config/diverged/. */
  private async keepDiverged(incoming: ClusterConfig): Promise<ClusterConfig[]> {
    const revisions = await this.store.history()
    const mine = (await Promise.all(revisions.slice(0, 50).map((r) => this.store.historyEntry(r).catch(() => null)))).filter((c): c is ClusterConfig => c !== null)
    const lost = divergedRevisions(mine, incoming)
    if (lost.length === 0) return []
    const kept = await this.store.keepDiverged(lost)
    this.log.warn('revisions discarded by failover kept in config/diverged/ (see `cluster config history`)', {revisions: kept, newEpoch: incoming.epoch})
    return lost
  }

  /** Checks every member push (and staged change) must pass: from the primary it names, listing this node. */
  checkMemberPush(incoming: ClusterConfig, current: ClusterConfig, actor: Actor): void {
    {
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
    }
  }
}
