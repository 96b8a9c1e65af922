// One secondary as the primary sees it: a kept-open admin connection authenticated with the cluster key and
// watched by SSH keepalives, the sync state, pushes that never overlap (a change during a push triggers one
// more push) and the staging of a change before the primary commits it.
import type {AdminClient} from '../protocol/admin-client.js'
import {DELTA_FORMAT, OperationError, PATHS, formatHostPort, type ConfigDelta, type ConfigRef, type NodeStatus, type PushStat, type SyncResult, type SyncState} from '../protocol/index.js'
import type {ClusterConfig, ServerEntry} from '../config/schema.js'
import {connectAsMember} from './member-client.js'
import {HASH_FORMAT} from '../config/config-text.js'

export interface LinkOwner {
  config(): ClusterConfig
  hash(): string
  /** The configuration as pushed; the owner serialises each revision once for all links. */
  serialize(config: ClusterConfig): string
  /**
   * The delta from the configuration `from` (what the secondary holds) to `target`, made once for all links;
   * or why the full document must go (the base is no longer known here, the delta would be too large).
   */
  delta(from: ConfigRef | null, target: ClusterConfig, targetHash: string): {delta: ConfigDelta; bytes: number} | {reason: string}
  clusterPrivateKey: string
  /** Outgoing connections start from the node's own address, the one secondaries' filters allow. */
  localAddress: string
  /** A secondary reports a newer epoch (or promised one to a candidate): this primary is stale. */
  onNewerEpoch(status: Pick<NodeStatus, 'epoch' | 'primary'>, from: ServerEntry): void
  /** The secondary answered (its epoch is not newer): this node still leads it. */
  onContact(from: ServerEntry): void
  log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void
}

const MAX_BACKOFF_MS = 30_000
/**
 * Keepalives every second; the link closes when three in a row go unanswered, so a SIGSTOPped or cut-off secondary
 * shows as unreachable within about 4 s. One unanswered ping was too few: ssh2 counts a ping as lost when its
 * interval timer runs before the reply is read, so either side blocking its event loop for a second (a secondary
 * applying a 20 MB configuration under load, the primary hashing one) dropped a healthy link mid-stage and a
 * majority commit was refused.
 */
const KEEPALIVE = {intervalMs: 1000, countMax: 3}
const CONNECT_TIMEOUT_MS = 3000

export class PeerLink {
  state: SyncState = 'syncing'
  revision: number | null = null
  lastSynchronized: string | null = null
  error: string | null = null
  /** What the secondary reported when the connection opened: version, readable schema, delta format. */
  peer: {version: string; schemaVersion: number; delta: boolean} | null = null
  /** The configuration the secondary holds, as far as this primary knows: the base of the next delta. */
  held: ConfigRef | null = null
  /** The last push or stage sent (delta or full, bytes on the wire). */
  lastPush: PushStat | null = null
  private client: AdminClient | undefined
  private connecting: Promise<AdminClient> | undefined
  private running: Promise<void> | undefined
  private dirty = false
  private forceCheck = false
  private failures = 0
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false
  private waiters: ((result: SyncResult) => void)[] = []
  /** Whether the pending check may overwrite drift (not for automatic retries while sync is disabled). */
  private repairPending = false

  constructor(public entry: ServerEntry, private readonly owner: LinkOwner) {}

  get address(): string {
    return formatHostPort(this.entry.host, this.entry.port)
  }

  /** Pushes the current configuration (or, with `check`, compares first and repairs drift). */
  sync(check = false, retry = false): Promise<SyncResult> {
    if (this.closed) return Promise.resolve(this.result())
    this.repairPending ||= !retry || this.owner.config().sync.enabled
    this.dirty = true
    this.forceCheck ||= check
    const done = new Promise<SyncResult>((resolve) => this.waiters.push(resolve))
    this.running ??= this.loop().finally(() => (this.running = undefined))
    return done
  }

  result(): SyncResult {
    return {host: this.entry.host, port: this.entry.port, state: this.state, revision: this.revision, error: this.error}
  }

  /** True while the kept-open connection is up (keepalives answered). */
  get connected(): boolean {
    return this.client !== undefined
  }

  close(): void {
    this.closed = true
    clearTimeout(this.retryTimer)
    this.client?.close()
    this.client = undefined
    for (const w of this.waiters.splice(0)) w(this.result())
  }

  /**
   * Phase one of a commit: the secondary writes `text` (the candidate configuration) to its config/staged.json
   * durably without applying it. Resolves when it did, rejects with why not.
   */
  async stage(candidate: ClusterConfig, candidateHash: string, current: ConfigRef): Promise<void> {
    if (this.closed) throw new OperationError('unreachable', `${this.address}: link closed`)
    try {
      const client = await this.connect()
      // The base is what the secondary holds, which may be behind `current` (its push still on the way).
      let reason = this.peer?.delta ? undefined : 'the secondary applies full documents only'
      const d = reason ? {reason} : this.owner.delta(this.held ?? current, candidate, candidateHash)
      if ('delta' in d) {
        try {
          await this.request(client, 'stage', {delta: d.delta})
          this.lastPush = {kind: 'stage', mode: 'delta', revision: candidate.revision, bytes: d.bytes}
          this.owner.onContact(this.entry)
          return
        } catch (error) {
          if (!(error instanceof OperationError) || error.code !== 'delta-base') throw error
          this.held = null
          reason = error.message
        }
      } else {
        reason = d.reason
      }
      const body = JSON.stringify({config: candidate})
      await client.exec('stage', body)
      this.lastPush = {kind: 'stage', mode: 'full', revision: candidate.revision, bytes: Buffer.byteLength(body), reason}
      this.owner.onContact(this.entry)
    } catch (error) {
      if (error instanceof OperationError && error.code === 'fenced' && /epoch/.test(error.message)) {
        const status = await this.client?.exec<NodeStatus>('status', null).catch(() => undefined)
        this.newerEpoch({epoch: Math.max(status?.epoch ?? 0, status?.promisedEpoch ?? 0, this.owner.config().epoch + 1), primary: status?.primary ?? null})
      } else if (error instanceof OperationError && (error.code === 'unreachable' || error.code === 'filtered')) {
        this.failed(error)
      }
      throw error
    }
  }

  /**
   * A small request: on the members' session with a secondary of this version (a change is two lines on a
   * channel kept open), by exec with an older one.
   */
  private request<T>(client: AdminClient, command: string, args: object | null): Promise<T> {
    return this.peer?.delta ? client.call<T>(command, args) : client.exec<T>(command, args)
  }

  /** Drops a staged change the primary could not commit (best effort). */
  async unstage(revision: number, epoch: number): Promise<void> {
    if (this.client) await this.request(this.client, 'unstage', {revision, epoch}).catch(() => {})
  }

  private async loop(): Promise<void> {
    for (let pass = 0; this.dirty && !this.closed && pass < 100; pass++) {
      this.dirty = false
      const waiters = this.waiters.splice(0)
      const check = this.forceCheck
      const repair = this.repairPending
      this.forceCheck = false
      this.repairPending = false
      await this.pass(check, repair)
      // Snapshot now: the next pass (a change that came meanwhile) resets the state to 'syncing' at once.
      const result = this.result()
      for (const w of waiters) w(result)
    }
  }

  private async pass(check: boolean, repair: boolean): Promise<void> {
    const config = this.owner.config()
    const hash = this.owner.hash()
    if (this.state !== 'in-sync' || this.revision !== config.revision) this.state = 'syncing'
    try {
      const client = await this.connect()
      if (this.peer && this.peer.schemaVersion < config.schemaVersion) {
        throw new OperationError('refused', `${this.address} runs version ${this.peer.version}, which cannot read configuration schema ${config.schemaVersion}`, 'upgrade that node, then run `cluster sync`')
      }
      if (check) {
        const status = await this.request<NodeStatus>(client, 'status', null)
        if (status.epoch > config.epoch || (status.promisedEpoch ?? 0) > config.epoch) return this.newerEpoch({epoch: Math.max(status.epoch, status.promisedEpoch ?? 0), primary: status.primary})
        this.owner.onContact(this.entry)
        this.held = {epoch: status.epoch, revision: status.revision, hash: status.hash}
        // A node of an older version reports another kind of hash: only its epoch and revision compare.
        const sameContent = (status.hashFormat ?? 1) === HASH_FORMAT ? status.hash === hash : status.epoch === config.epoch
        if (status.revision === config.revision && sameContent && status.clusterId === config.clusterId) {
          return this.confirmed(config.revision)
        }
        if (!repair && status.revision === config.revision && status.clusterId === config.clusterId) {
          this.state = 'stale'
          this.error = `${this.address} differs from the primary at the same revision (edited by hand?); automatic sync is disabled: run \`cluster sync\``
          return
        }
        this.owner.log('info', 'drift found, overwriting', {server: this.address, revision: status.revision, primaryRevision: config.revision})
      }
      try {
        await this.push(client, config, hash)
      } catch (error) {
        if (error instanceof OperationError && error.code === 'fenced' && /already in effect/.test(error.message)) {
          this.held = {epoch: config.epoch, revision: config.revision, hash}
          return this.confirmed(config.revision)
        }
        if (error instanceof OperationError && error.code === 'fenced' && /epoch/.test(error.message)) {
          const status = await client.exec<NodeStatus>('status', null)
          return this.newerEpoch({epoch: Math.max(status.epoch, status.promisedEpoch ?? 0), primary: status.primary})
        }
        throw error
      }
      this.owner.onContact(this.entry)
      this.held = {epoch: config.epoch, revision: config.revision, hash}
      this.confirmed(config.revision)
    } catch (error) {
      this.failed(error as Error)
    }
  }

  /** Sends `config`: as a delta against what the secondary holds when it can, else the full document. */
  private async push(client: AdminClient, config: ClusterConfig, hash: string): Promise<void> {
    let reason: string | undefined = this.peer?.delta ? undefined : 'the secondary applies full documents only'
    const d = reason ? {reason} : this.owner.delta(this.held, config, hash)
    if ('delta' in d) {
      try {
        await this.request(client, 'apply-delta', {delta: d.delta})
        this.lastPush = {kind: 'push', mode: 'delta', revision: config.revision, bytes: d.bytes}
        return
      } catch (error) {
        if (!(error instanceof OperationError) || error.code !== 'delta-base') throw error
        // Its base is not what this primary believed (restored from a backup, edited by hand): send it whole.
        this.owner.log('info', 'delta refused, pushing the full document', {server: this.address, revision: config.revision, reason: error.message})
        this.held = null
        reason = error.message
      }
    } else {
      reason = d.reason
    }
    const text = this.owner.serialize(config)
    await client.writeFile(PATHS.config, text)
    this.lastPush = {kind: 'push', mode: 'full', revision: config.revision, bytes: Buffer.byteLength(text), reason}
  }

  /** The kept-open connection; concurrent callers (a push and a stage) share one attempt. */
  private connect(): Promise<AdminClient> {
    if (this.client) return Promise.resolve(this.client)
    this.connecting ??= this.open().finally(() => (this.connecting = undefined))
    return this.connecting
  }

  private async open(): Promise<AdminClient> {
    const client = await connectAsMember(this.owner.clusterPrivateKey, this.owner.localAddress, this.entry, CONNECT_TIMEOUT_MS, KEEPALIVE)
    // Closed while connecting (the node stops, the server was removed): an open connection would keep the
    // process alive after SIGTERM.
    if (this.closed) {
      client.close()
      throw new OperationError('unreachable', `${this.address}: link closed`)
    }
    client.onClose(() => {
      if (this.client !== client) return
      this.client = undefined
      // The secondary died or stopped answering keepalives: say so now, and reconnect with back-off.
      if (!this.closed) this.failed(new OperationError('unreachable', `the connection to ${this.address} was lost (no answer to keepalives)`))
    })
    try {
      const status = await client.exec<NodeStatus>('status', null)
      this.peer = {version: status.version, schemaVersion: status.schemaVersion ?? 1, delta: status.deltaSync === DELTA_FORMAT}
      this.held = {epoch: status.epoch, revision: status.revision, hash: status.hash}
      if (status.epoch > this.owner.config().epoch || (status.promisedEpoch ?? 0) > this.owner.config().epoch) {
        this.newerEpoch({epoch: Math.max(status.epoch, status.promisedEpoch ?? 0), primary: status.primary})
      } else {
        this.owner.onContact(this.entry)
      }
    } catch (error) {
      client.close()
      throw error
    }
    if (this.closed) {
      client.close()
      throw new OperationError('unreachable', `${this.address}: link closed`)
    }
    this.client = client
    return client
  }

  private confirmed(revision: number): void {
    const wasBad = this.state !== 'in-sync' && this.state !== 'syncing'
    this.state = 'in-sync'
    this.revision = revision
    this.error = null
    this.failures = 0
    this.lastSynchronized = new Date().toISOString()
    clearTimeout(this.retryTimer)
    if (wasBad) this.owner.log('info', 'secondary back in sync', {server: this.address, revision})
  }

  private newerEpoch(status: Pick<NodeStatus, 'epoch' | 'primary'>): void {
    this.state = 'refused'
    this.error = `fenced: ${this.address} is at epoch ${status.epoch}, newer than this primary's`
    this.owner.onNewerEpoch(status, this.entry)
  }

  private failed(error: Error): void {
    const code = error instanceof OperationError ? error.code : 'internal'
    this.client?.close()
    this.client = undefined
    this.state = code === 'unreachable' || code === 'filtered' ? 'unreachable' : code === 'auth' || code === 'host-key' || code === 'fenced' || code === 'invalid' || code === 'not-primary' ? 'refused' : 'stale'
    this.error = error.message
    this.failures += 1
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.failures, 10))
    if (this.failures === 1 || this.failures % 10 === 0) this.owner.log('warn', 'push failed, will retry', {server: this.address, state: this.state, retryInMs: delay, error: error.message})
    clearTimeout(this.retryTimer)
    if (!this.closed) {
      this.retryTimer = setTimeout(() => void this.sync(true, true), delay)
      this.retryTimer.unref()
    }
  }
}
