// One secondary as the primary sees it: a kept-open admin connection authenticated with the cluster key,
// the sync state, and pushes that never overlap (a change during a push triggers one more push).
import type {AdminClient} from '../protocol/admin-client.js'
import {OperationError, PATHS, formatHostPort, type NodeStatus, type SyncResult, type SyncState} from '../protocol/index.js'
import type {ClusterConfig, ServerEntry} from '../config/schema.js'
import {connectAsMember} from './member-client.js'

export interface LinkOwner {
  config(): ClusterConfig
  hash(): string
  /** The configuration as pushed; the owner serialises each revision once for all links. */
  serialize(config: ClusterConfig): string
  clusterPrivateKey: string
  /** Outgoing connections start from the node's own address, the one secondaries' filters allow. */
  localAddress: string
  /** A secondary reports a newer epoch: this primary is stale. */
  onNewerEpoch(status: NodeStatus, from: ServerEntry): void
  log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void
}

const MAX_BACKOFF_MS = 30_000

export class PeerLink {
  state: SyncState = 'syncing'
  revision: number | null = null
  lastSynchronized: string | null = null
  error: string | null = null
  /** What the secondary reported when the connection opened: version and readable schema. */
  peer: {version: string; schemaVersion: number} | null = null
  private client: AdminClient | undefined
  private running: Promise<void> | undefined
  private dirty = false
  private forceCheck = false
  private failures = 0
  private retryTimer: NodeJS.Timeout | undefined
  private closed = false
  private waiters: ((result: SyncResult) => void)[] = []

  constructor(public entry: ServerEntry, private readonly owner: LinkOwner) {}

  get address(): string {
    return formatHostPort(this.entry.host, this.entry.port)
  }

  /** Pushes the current configuration (or, with `check`, compares first and repairs drift). */
  sync(check = false): Promise<SyncResult> {
    if (this.closed) return Promise.resolve(this.result())
    this.dirty = true
    this.forceCheck ||= check
    const done = new Promise<SyncResult>((resolve) => this.waiters.push(resolve))
    this.running ??= this.loop().finally(() => (this.running = undefined))
    return done
  }

  result(): SyncResult {
    return {host: this.entry.host, port: this.entry.port, state: this.state, revision: this.revision, error: this.error}
  }

  close(): void {
    this.closed = true
    clearTimeout(this.retryTimer)
    this.client?.close()
    this.client = undefined
    for (const w of this.waiters.splice(0)) w(this.result())
  }

  private async loop(): Promise<void> {
    for (let pass = 0; this.dirty && !this.closed && pass < 100; pass++) {
      this.dirty = false
      const waiters = this.waiters.splice(0)
      const check = this.forceCheck
      this.forceCheck = false
      await this.pass(check)
      // Snapshot now: the next pass (a change that came meanwhile) resets the state to 'syncing' at once.
      const result = this.result()
      for (const w of waiters) w(result)
    }
  }

  private async pass(check: boolean): Promise<void> {
    const config = this.owner.config()
    const hash = this.owner.hash()
    if (this.state !== 'in-sync' || this.revision !== config.revision) this.state = 'syncing'
    try {
      const client = await this.connect()
      if (this.peer && this.peer.schemaVersion < config.schemaVersion) {
        throw new OperationError('refused', `${this.address} runs version ${this.peer.version}, which cannot read configuration schema ${config.schemaVersion}`, 'upgrade that node, then run `cluster sync`')
      }
      if (check) {
        const status = await client.exec<NodeStatus>('status', null)
        if (status.epoch > config.epoch) return this.newerEpoch(status)
        if (status.revision === config.revision && status.hash === hash && status.clusterId === config.clusterId) {
          return this.confirmed(config.revision)
        }
        this.owner.log('info', 'drift found, overwriting', {server: this.address, revision: status.revision, primaryRevision: config.revision})
      }
      try {
        await client.writeFile(PATHS.config, this.owner.serialize(config))
      } catch (error) {
        if (error instanceof OperationError && error.code === 'fenced' && /already in effect/.test(error.message)) return this.confirmed(config.revision)
        if (error instanceof OperationError && error.code === 'fenced' && /epoch/.test(error.message)) {
          return this.newerEpoch(await client.exec<NodeStatus>('status', null))
        }
        throw error
      }
      this.confirmed(config.revision)
    } catch (error) {
      this.failed(error as Error)
    }
  }

  private async connect(): Promise<AdminClient> {
    if (this.client) return this.client
    const client = await connectAsMember(this.owner.clusterPrivateKey, this.owner.localAddress, this.entry)
    client.onClose(() => {
      if (this.client === client) this.client = undefined
    })
    try {
      const status = await client.exec<NodeStatus>('status', null)
      this.peer = {version: status.version, schemaVersion: status.schemaVersion ?? 1}
    } catch (error) {
      client.close()
      throw error
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

  private newerEpoch(status: NodeStatus): void {
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
      this.retryTimer = setTimeout(() => void this.sync(true), delay)
      this.retryTimer.unref()
    }
  }
}
