// The primary's sync engine: pushes every change to all secondaries at once (bounded concurrency, a short
// debounce), re-checks them on the sync interval and repairs drift; a secondary that boots asks for a push.
// It is also the commit gate: a local change is staged on the secondaries first and committed only when the
// commit policy is met (a majority holds it, or, under `primary`, this node still knows it leads).
import type {ClusterConfig, CommitPolicy, ServerEntry} from '../config/schema.js'
import {checkConfigSize, serializeConfig} from '../config/store.js'
import {configHash as contentHash, configSize} from '../config/config-text.js'
import {diffConfig} from '../config/config-patch.js'
import type {AdminClient} from '../protocol/admin-client.js'
import {DELTA_FORMAT, OperationError, formatHostPort, type ConfigDelta, type ConfigRef, type CommitReport, type NodeProblem, type NodeStatus, type ServerInfo, type ServersDocument, type SyncResult} from '../protocol/index.js'
import {VERSION, type NodeRuntime} from '../daemon/node-runtime.js'
import {connectAsMember} from './member-client.js'
import {PeerLink} from './peer-link.js'

const DEBOUNCE_MS = 3
const CONCURRENCY = 32
/**
 * How long a change waits for secondaries to stage it before the policy decides. A secondary whose link is
 * still up (keepalives answered) is working on it, and gets up to STAGE_MAX_MS: a 20 MB document on a busy
 * machine takes longer than 3 s. One that stopped answering loses its link within ~4 s and fails then.
 */
const STAGE_TIMEOUT_MS = 3000
const STAGE_MAX_MS = 30_000
/**
 * Once the policy is met, stragglers get this long, so the report of who holds the change is complete; not
 * longer, because the writer waits for it (a straggler gets the change by the push that follows the commit).
 */
const STAGE_GRACE_MS = 25
/** After joining, a secondary asks its primary for a push this much later (the add-server verifies before). */
const JOIN_CHECK_MS = 5000
/** Revisions kept in memory as delta bases (a secondary a few changes behind still gets a delta). */
const RECENT_BASES = 3
/** A delta larger than this share of the full document is not worth it: the full document goes. */
const MAX_DELTA_SHARE = 0.5

/** The policy in effect: `auto` is majority with 3 or more members, primary with 2 (or 1). */
export function effectivePolicy(config: ClusterConfig): Exclude<CommitPolicy, 'auto'> {
  if (config.sync.commit !== 'auto') return config.sync.commit
  return config.servers.length + 1 >= 3 ? 'majority' : 'primary'
}

export function majorityOf(members: number): number {
  return Math.floor(members / 2) + 1
}

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
  /** A primary proves it still leads: false from boot until a secondary answered with an epoch not newer. */
  private contactSinceBoot = false
  private lastContactAt = 0
  private lastCommit: CommitReport | null = null
  /**
   * Set on a secondary whose primary does not list it (add-server interrupted), with when it was found: a
   * push from the primary after that (an add-server that finished late, or was run again) supersedes it.
   */
  private notListed: {message: string; at: number} | null = null
  private watch: NodeJS.Timeout | undefined
  private lastPullAt = 0
  /** Recent configurations by content hash: the bases deltas are made against. */
  private readonly recent = new Map<string, ClusterConfig>()
  /** Deltas made, by "base hash>target hash": one per change, shared by every link. */
  private readonly deltas = new Map<string, {delta: ConfigDelta; bytes: number} | {reason: string}>()

  constructor(private readonly node: NodeRuntime) {}

  start(): void {
    this.remember(this.node.config, this.node.store.hash)
    this.node.serversDocument = () => this.serversDocument()
    this.node.store.on('change', (config: ClusterConfig, previous: ClusterConfig) => this.onChange(config, previous))
    this.node.store.commitGate = (candidate, current) => this.gate(candidate, current)
    this.node.onDiverged = (configs, primary) => void this.sendDiverged(configs, primary)
    this.reconcile(this.node.config)
    if (this.node.role() === 'primary') this.schedulePush(true)
    if (this.node.role() === 'secondary') this.pullFromPrimary(0)
    this.watchPrimary()
  }

  stop(): void {
    this.stopped = true
    this.node.store.commitGate = undefined
    clearTimeout(this.debounce)
    clearInterval(this.interval)
    clearTimeout(this.bootPull)
    clearInterval(this.watch)
    for (const l of this.links.values()) l.close()
    this.links.clear()
  }

  private remember(config: ClusterConfig, hash: string): void {
    this.recent.delete(hash)
    this.recent.set(hash, config)
    while (this.recent.size > RECENT_BASES) this.recent.delete(this.recent.keys().next().value!)
  }

  /** The delta from what a secondary holds to `target`, or why the full document goes instead. */
  private deltaFrom(from: ConfigRef | null, target: ClusterConfig, targetHash: string): {delta: ConfigDelta; bytes: number} | {reason: string} {
    if (process.env.CLUSTER_SYNC_DELTA === '0') return {reason: 'delta sync is off (CLUSTER_SYNC_DELTA=0)'}
    if (!from) return {reason: 'the revision the secondary holds is not known'}
    const base = this.recent.get(from.hash)
    if (!base || base.revision !== from.revision || base.epoch !== from.epoch) return {reason: `revision ${from.revision} (hash ${from.hash.slice(0, 12)}) is not a recent revision of this primary`}
    const key = `${from.hash}>${targetHash}`
    let made = this.deltas.get(key)
    if (!made) {
      const ops = diffConfig(base, target)
      const delta: ConfigDelta = {format: DELTA_FORMAT, base: from, target: {epoch: target.epoch, revision: target.revision, hash: targetHash}, ops}
      const bytes = Buffer.byteLength(JSON.stringify({delta}))
      const full = bytes < 64 * 1024 ? Infinity : configSize(target)
      made = bytes > full * MAX_DELTA_SHARE ? {reason: `the delta would be ${bytes} bytes, more than half of the document's ${full}`} : {delta, bytes}
      this.deltas.set(key, made)
      while (this.deltas.size > 8) this.deltas.delete(this.deltas.keys().next().value!)
    }
    return made
  }

  /** This node granted a `promote` candidate a newer epoch: it stops acting as primary at once. */
  fence(reason: string): void {
    if (this.node.role() !== 'primary') return
    if (!this.fencedBy) this.node.log.warn('stepping down: a promote took a newer epoch; refusing changes until demoted', {reason})
    this.fencedBy = reason
  }

  /** A demoted node hands the revisions it kept in config/diverged/ to the new primary (`config history` there). */
  private async sendDiverged(configs: ClusterConfig[], primary: NonNullable<ClusterConfig['primary']>): Promise<void> {
    for (let attempt = 0; attempt < 5 && !this.stopped; attempt++) {
      let client: AdminClient | undefined
      try {
        client = await connectAsMember(this.node.identity.clusterPrivateKey, this.node.settings.bind, primary, 3000)
        await client.exec('keep-diverged', {configs})
        return
      } catch (error) {
        if (attempt === 4) this.node.log.warn('could not hand the discarded revisions to the new primary; they stay in this node\'s config/diverged/', {error: (error as Error).message})
      } finally {
        client?.close()
      }
      await new Promise((r) => setTimeout(r, 1000).unref())
    }
  }

  /** The outcome of the last committed change, for `status`. */
  commitReport(): CommitReport | null {
    return this.lastCommit
  }

  /** What this node knows is wrong with its part in the cluster, with the fix. */
  problems(): NodeProblem[] {
    const out: NodeProblem[] = []
    const role = this.node.role()
    if (role === 'primary' && this.fencedBy) out.push({kind: 'fenced', message: `this node is no longer the primary: ${this.fencedBy}`, hint: 'it becomes a secondary when the new primary reaches it; make changes there'})
    else if (role === 'primary' && this.node.config.servers.length > 0 && !this.confirmedRecently()) {
      out.push({kind: 'unconfirmed-primary', message: `cannot confirm that this node is still the primary: ${this.unreachable().join(', ') || 'no secondary'} unreachable`, hint: 'changes are refused until members answer; see `cluster diagnose`'})
    }
    const synced = this.node.lastSynchronized ? Date.parse(this.node.lastSynchronized) : 0
    if (this.notListed && synced > this.notListed.at) this.notListed = null
    if (role === 'secondary' && this.notListed) out.push({kind: 'not-listed', message: this.notListed.message, hint: `on the primary, run \`cluster add-server ${formatHostPort(this.node.settings.externalAddress ?? this.node.settings.bind, this.node.config.sites.admin.port)}\` again (this node's previous configuration is in config/backups/)`})
    return out
  }

  private unreachable(): string[] {
    return [...this.links.values()].filter((l) => !l.connected).map((l) => l.address)
  }

  /** Heard from a secondary since boot, and recently (a connection up, or contact within the sync interval). */
  private confirmedRecently(): boolean {
    if (!this.contactSinceBoot) return false
    if ([...this.links.values()].some((l) => l.connected)) return true
    return Date.now() - this.lastContactAt <= this.node.config.sync.intervalSeconds * 1000
  }

  /**
   * The commit gate: stages `candidate` on every secondary at once and waits until the policy is met.
   * `majority`: more than half of the members (this one included) must hold it; `primary`: this node commits
   * alone once it knows it still leads. Refused, it drops what was staged: nothing is applied anywhere.
   */
  private async gate(candidate: ClusterConfig, current: ClusterConfig): Promise<void> {
    if (this.node.role(current) !== 'primary') return
    if (this.fencedBy) throw new OperationError('fenced', `this node is no longer the primary: ${this.fencedBy}`, 'make changes on the new primary')
    const links = current.servers.map((s) => this.links.get(s.nodeId)).filter((l): l is PeerLink => l !== undefined)
    const members = links.length + 1
    const policy = effectivePolicy(current)
    const majority = majorityOf(members)
    const required = policy === 'majority' ? majority - 1 : links.length > 0 && !this.confirmedRecently() ? 1 : 0
    checkConfigSize(candidate) // the size rule: refused here, before any member is asked
    const candidateHash = contentHash(candidate)
    const base = {epoch: current.epoch, revision: current.revision, hash: this.node.store.hash}
    this.remember(candidate, candidateHash)
    const acked: PeerLink[] = []
    const why = new Map<PeerLink, string>()
    const started = Date.now()
    await new Promise<void>((resolve) => {
      let pending = links.length
      const waiting = new Set(links)
      let grace: NodeJS.Timeout | undefined
      const onDeadline = () => {
        if ([...waiting].some((l) => l.connected) && Date.now() - started < STAGE_MAX_MS) deadline = setTimeout(onDeadline, 250)
        else finish()
      }
      let deadline = setTimeout(onDeadline, STAGE_TIMEOUT_MS)
      const finish = () => {
        clearTimeout(deadline)
        clearTimeout(grace)
        resolve()
      }
      const check = () => {
        if (pending === 0 || acked.length + pending < required) return finish()
        if (acked.length >= required && !grace) grace = setTimeout(finish, STAGE_GRACE_MS)
      }
      for (const l of links) {
        l.stage(candidate, candidateHash, base).then(() => void acked.push(l), (error: Error) => void why.set(l, error.message)).finally(() => {
          waiting.delete(l)
          pending--
          check()
        })
      }
      check()
    })
    const me = formatHostPort(this.node.settings.externalAddress ?? this.node.settings.bind, current.sites.admin.port)
    const failed = links.filter((l) => !acked.includes(l))
    if (this.fencedBy || acked.length < required) {
      for (const l of acked) void l.unstage(candidate.revision, candidate.epoch)
      if (this.fencedBy) throw new OperationError('fenced', `this node is no longer the primary: ${this.fencedBy}; the change was not committed`, 'make changes on the new primary')
      const waited = `no answer within ${Math.round((Date.now() - started) / 100) / 10} s`
      const silent = failed.map((l) => `${l.address} (${why.get(l) ?? waited})`)
      const rule = policy === 'majority'
        ? `the majority commit policy needs ${majority} of ${members} members to hold a change, ${acked.length + 1} did`
        : 'the primary commit policy needs this node to hear from a secondary first (after a restart or a lost contact)'
      throw new OperationError('refused', `cannot confirm that this node is still the primary: ${silent.join(', ')} unreachable; see \`cluster diagnose\`. Revision ${candidate.revision} was not committed and nothing was applied: ${rule}`, 'bring the members back (`cluster diagnose HOST`), then make the change again')
    }
    this.lastCommit = {revision: candidate.revision, epoch: candidate.epoch, policy, members, confirmed: [me, ...acked.map((l) => l.address)], missing: failed.map((l) => l.address)}
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
      const unconfirmed = !this.fencedBy && c.servers.length > 0 && !this.confirmedRecently() ? `cannot confirm that this node is still the primary: ${this.unreachable().join(', ')} unreachable` : null
      servers.push({host: c.primary.host, port: c.primary.port, nodeId: c.primary.nodeId, role: 'primary', state: this.fencedBy || unconfirmed ? 'refused' : 'in-sync', revision: c.revision, lastSynchronized: null, error: this.fencedBy ?? unconfirmed, version: VERSION})
    }
    for (const s of c.servers) {
      const l = this.links.get(s.nodeId)
      servers.push({host: s.host, port: s.port, nodeId: s.nodeId, role: 'secondary', state: l?.state ?? 'syncing', revision: l?.revision ?? null, lastSynchronized: l?.lastSynchronized ?? null, error: l?.error ?? null, version: l?.peer?.version ?? null, lastPush: l?.lastPush ?? null})
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
    this.remember(config, this.node.store.hash)
    this.reconcile(config)
    if (this.node.role(config) === 'primary') {
      if (this.node.role(previous) !== 'primary' || config.epoch !== previous.epoch) {
        this.fencedBy = null
        this.contactSinceBoot = false // a new primary (promote) proves itself like one that booted
      }
      this.schedulePush(false)
    } else if (this.node.role(previous) === 'primary' && this.node.role(config) === 'secondary') {
      this.fencedBy = null
      this.node.log.warn('demoted: a newer primary took over', {primary: config.primary ? formatHostPort(config.primary.host, config.primary.port) : null, epoch: config.epoch})
    }
    if (this.node.role(config) !== 'secondary') this.notListed = null
  }

  /**
   * This node just took a primary's configuration (`join`, run by add-server): whatever it knew of not being
   * listed is void. The primary records the node and verifies it next; an add-server cut short after the join
   * (the primary killed, the CLI's connection lost) leaves a node that believes it joined, so it asks the
   * primary once that had time to record it, and says so within seconds instead of after two sync intervals.
   */
  joined(): void {
    this.notListed = null
    clearTimeout(this.bootPull)
    this.pullFromPrimary(0, JOIN_CHECK_MS)
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
        delta: (from, target, targetHash) => this.deltaFrom(from, target, targetHash),
        serialize: (c) => {
          if (this.serialized?.config !== c) this.serialized = {config: c, text: serializeConfig(c)}
          return this.serialized.text
        },
        clusterPrivateKey: this.node.identity.clusterPrivateKey,
        localAddress: this.node.settings.bind,
        onNewerEpoch: (status, from) => this.onNewerEpoch(status, from),
        onContact: () => {
          this.contactSinceBoot = true
          this.lastContactAt = Date.now()
        },
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

  private onNewerEpoch(status: Pick<NodeStatus, 'epoch' | 'primary'>, from: ServerEntry): void {
    const p = status.primary ? formatHostPort(status.primary.host, status.primary.port) : 'another node'
    if (!this.fencedBy) this.node.log.warn('a newer primary was promoted; this node stops pushing and waits to be demoted', {newPrimary: p, epoch: status.epoch, seenOn: formatHostPort(from.host, from.port)})
    this.fencedBy = `a newer primary ${p} was promoted (epoch ${status.epoch})`
  }

  /**
   * A booting (or just joined, or long unvisited) secondary asks its primary for a push; retried with back-off
   * while the primary is away.
   */
  private pullFromPrimary(attempt: number, firstDelayMs = 0): void {
    const delay = attempt === 0 ? firstDelayMs : Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))
    this.bootPull = setTimeout(async () => {
      const c = this.node.config
      if (this.stopped || this.node.role() !== 'secondary' || !c.primary) return
      const startedAt = Date.now()
      this.lastPullAt = startedAt
      let client: AdminClient | undefined
      try {
        client = await connectAsMember(this.node.identity.clusterPrivateKey, this.node.settings.bind, c.primary)
        const result = await client.exec<SyncResult>('sync-me', {nodeId: this.node.settings.nodeId})
        this.notListed = null
        this.node.log.info('sync asked of the primary', {state: result.state, revision: result.revision})
      } catch (error) {
        const message = (error as Error).message
        const synced = this.node.lastSynchronized ? Date.parse(this.node.lastSynchronized) : 0
        if (synced >= startedAt) return // joined or pushed to meanwhile: this answer is older than that (and joined() asks again)
        // The primary answers "not a registered server", or refuses the cluster key outright: it accepts the
        // keys of the members it lists, so a refused key is the same verdict, given earlier.
        const refusedKey = error instanceof OperationError && error.code === 'auth'
        if (refusedKey || /not a registered server/.test(message)) {
          const primary = formatHostPort(c.primary.host, c.primary.port)
          if (!this.notListed) this.node.log.error('the primary does not list this node (an interrupted add-server?): it gets no changes', {primary, answer: message})
          this.notListed = {
            message: `this node believes it joined the cluster, but its primary ${primary} does not list it${refusedKey ? ' (it refuses this node\'s cluster key)' : ''}: it gets no changes`,
            at: Date.now(),
          }
        }
        if (attempt === 0 || attempt % 10 === 0) this.node.log.warn('cannot reach the primary to ask for a sync; serving the last configuration and retrying', {primary: formatHostPort(c.primary.host, c.primary.port), error: message})
        if (!this.notListed) this.pullFromPrimary(attempt + 1)
      } finally {
        client?.close()
      }
    }, delay)
    this.bootPull.unref()
  }

  /**
   * On a secondary: a primary that stays silent for two sync intervals is asked for a push (a repair of a hand
   * edit, a change missed while away, or the discovery that it no longer lists this node).
   */
  private watchPrimary(): void {
    this.watch = setInterval(() => {
      const c = this.node.config
      if (this.stopped || this.node.role() !== 'secondary' || !c.sync.enabled) return
      const last = this.node.lastSynchronized ? Date.parse(this.node.lastSynchronized) : 0
      const quiet = 2 * c.sync.intervalSeconds * 1000
      if (Date.now() - last < quiet || Date.now() - this.lastPullAt < quiet) return
      clearTimeout(this.bootPull)
      this.pullFromPrimary(0)
    }, 1000)
    this.watch.unref()
  }
}
