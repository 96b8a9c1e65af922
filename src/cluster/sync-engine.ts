// The primary's sync engine: pushes every change to all secondaries at once (bounded concurrency, a short
// debounce), re-checks them on the sync interval and repairs drift; a secondary that boots asks for a push.
import type {ClusterConfig, ServerEntry} from '../config/schema.js'
import {serializeConfig} from '../config/store.js'
import type {AdminClient} from '../protocol/admin-client.js'
import {OperationError, formatHostPort, type NodeStatus, type ServerInfo, type ServersDocument, type SyncResult} from '../protocol/index.js'
import {VERSION, type NodeRuntime} from '../daemon/node-runtime.js'
import {connectAsMember} from './member-client.js'
import {PeerLink} from './peer-link.js'

const DEBOUNCE_MS = 3
const CONCURRENCY = 32

/** Runs `tasks` with at most `limit` in flight. */
export async function bounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length)
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++
      out[i] = await tasks[i]()
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, tasks.length)}, worker))
  return out
}

export class SyncEngine {
  private readonly links = new Map<string, PeerLink>()
  private debounce: NodeJS.Timeout | undefined
  private interval: NodeJS.Timeout | undefined
  private intervalSeconds = 0
  private bootPull: NodeJS.Timeout | undefined
  private stopped = false
  /** Set when a secondary showed a newer epoch: this node no longer acts as primary. */
  private fencedBy: string | null = null
  /** The last configuration serialised for a push: one JSON text per revision, shared by every link. */
  private serialized: {config: ClusterConfig; text: string} | undefined

  constructor(private readonly node: NodeRuntime) {}

  start(): void {
    this.node.serversDocument = () => this.serversDocument()
    this.node.store.on('change', (config: ClusterConfig, previous: ClusterConfig) => this.onChange(config, previous))
    this.reconcile(this.node.config)
    if (this.node.role() === 'primary') this.schedulePush(true)
    if (this.node.role() === 'secondary') this.pullFromPrimary(0)
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.debounce)
    clearInterval(this.interval)
    clearTimeout(this.bootPull)
    for (const l of this.links.values()) l.close()
    this.links.clear()
  }

  /** Pushes now to one secondary (host/port) or all, and waits for the results. */
  async syncNow(target?: {host: string; port: number}, check = false): Promise<SyncResult[]> {
    this.assertPrimary()
    const links = [...this.links.values()].filter((l) => !target || (l.entry.host === target.host && l.entry.port === target.port))
    if (target && links.length === 0) {
      throw new OperationError('invalid', `${formatHostPort(target.host, target.port)} is not a registered server`, 'list them with `cluster servers`')
    }
    return bounded(links.map((l) => () => l.sync(check)), CONCURRENCY)
  }

  /** A push to one server by node id (a booting secondary asks for it). */
  async syncNode(nodeId: string): Promise<SyncResult> {
    this.assertPrimary()
    const link = [...this.links.values()].find((l) => l.entry.nodeId === nodeId)
    if (!link) throw new OperationError('refused', `node ${nodeId} is not a registered server of this primary`)
    return link.sync(true)
  }

  serversDocument(): ServersDocument {
    const c = this.node.config
    const servers: ServerInfo[] = []
    if (c.primary) {
      servers.push({host: c.primary.host, port: c.primary.port, nodeId: c.primary.nodeId, role: 'primary', state: this.fencedBy ? 'refused' : 'in-sync', revision: c.revision, lastSynchronized: null, error: this.fencedBy, version: VERSION})
    }
    for (const s of c.servers) {
      const l = this.links.get(s.nodeId)
      servers.push({host: s.host, port: s.port, nodeId: s.nodeId, role: 'secondary', state: l?.state ?? 'syncing', revision: l?.revision ?? null, lastSynchronized: l?.lastSynchronized ?? null, error: l?.error ?? null, version: l?.peer?.version ?? null})
    }
    return {revision: c.revision, epoch: c.epoch, servers}
  }

  private assertPrimary(): void {
    const role = this.node.role()
    if (role === 'secondary') throw this.node.notPrimaryError()
    if (role === 'standalone') throw new OperationError('refused', 'this node is standalone: it has no secondaries to sync', 'register one with `cluster add-server HOST`')
    if (this.fencedBy) throw new OperationError('fenced', `this node is no longer the primary: ${this.fencedBy}`, 'make changes on the new primary')
  }

  private onChange(config: ClusterConfig, previous: ClusterConfig): void {
    if (this.stopped) return
    this.reconcile(config)
    if (this.node.role(config) === 'primary') {
      this.fencedBy = null
      this.schedulePush(false)
    } else if (this.node.role(previous) === 'primary' && this.node.role(config) === 'secondary') {
      this.node.log.warn('demoted: a newer primary took over', {primary: config.primary ? formatHostPort(config.primary.host, config.primary.port) : null, epoch: config.epoch})
    }
  }

  /** Keeps one link per registered secondary while this node is the primary. */
  private reconcile(config: ClusterConfig): void {
    const primary = this.node.role(config) === 'primary'
    const wanted = new Map<string, ServerEntry>(primary ? config.servers.map((s) => [s.nodeId, s]) : [])
    for (const [id, link] of this.links) {
      const entry = wanted.get(id)
      if (!entry || entry.host !== link.entry.host || entry.port !== link.entry.port || entry.fingerprint !== link.entry.fingerprint) {
        link.close()
        this.links.delete(id)
      }
    }
    for (const [id, entry] of wanted) {
      if (this.links.has(id)) continue
      this.links.set(id, new PeerLink(entry, {
        config: () => this.node.config,
        hash: () => this.node.store.hash,
        serialize: (c) => {
          if (this.serialized?.config !== c) this.serialized = {config: c, text: serializeConfig(c)}
          return this.serialized.text
        },
        clusterPrivateKey: this.node.identity.clusterPrivateKey,
        localAddress: this.node.settings.bind,
        onNewerEpoch: (status, from) => this.onNewerEpoch(status, from),
        log: (level, msg, fields) => this.node.log[level](msg, fields),
      }))
    }
    const interval = primary && config.sync.enabled ? config.sync.intervalSeconds : 0
    if (interval !== this.intervalSeconds) {
      clearInterval(this.interval)
      this.interval = undefined
      this.intervalSeconds = interval
      if (interval > 0) {
        this.interval = setInterval(() => void this.periodicCheck(), interval * 1000)
        this.interval.unref()
      }
    }
  }

  private schedulePush(check: boolean): void {
    clearTimeout(this.debounce)
    this.debounce = setTimeout(() => {
      if (this.fencedBy || this.node.role() !== 'primary') return
      void bounded([...this.links.values()].map((l) => () => l.sync(check)), CONCURRENCY)
    }, DEBOUNCE_MS)
  }

  private async periodicCheck(): Promise<void> {
    if (this.fencedBy || this.node.role() !== 'primary') return
    await bounded([...this.links.values()].map((l) => () => l.sync(true)), CONCURRENCY)
  }

  private onNewerEpoch(status: NodeStatus, from: ServerEntry): void {
    const p = status.primary ? formatHostPort(status.primary.host, status.primary.port) : 'another node'
    if (!this.fencedBy) this.node.log.warn('a newer primary was promoted; this node stops pushing and waits to be demoted', {newPrimary: p, epoch: status.epoch, seenOn: formatHostPort(from.host, from.port)})
    this.fencedBy = `a newer primary ${p} was promoted (epoch ${status.epoch})`
  }

  /** A booting secondary asks its primary for a push; retried with back-off while the primary is away. */
  private pullFromPrimary(attempt: number): void {
    const delay = attempt === 0 ? 0 : Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))
    this.bootPull = setTimeout(async () => {
      const c = this.node.config
      if (this.stopped || this.node.role() !== 'secondary' || !c.primary) return
      let client: AdminClient | undefined
      try {
        client = await connectAsMember(this.node.identity.clusterPrivateKey, this.node.settings.bind, c.primary)
        const result = await client.exec<SyncResult>('sync-me', {nodeId: this.node.settings.nodeId})
        this.node.log.info('boot-time sync from the primary', {state: result.state, revision: result.revision})
      } catch (error) {
        if (attempt === 0 || attempt % 10 === 0) this.node.log.warn('cannot reach the primary for the boot-time sync; serving the last configuration and retrying', {primary: formatHostPort(c.primary.host, c.primary.port), error: (error as Error).message})
        this.pullFromPrimary(attempt + 1)
      } finally {
        client?.close()
      }
    }, delay)
    this.bootPull.unref()
  }
}
