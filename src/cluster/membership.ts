// Cluster membership actions on the admin endpoint: add-server (on the primary), join (on the new
// secondary), remove-server / leave, promote, sync and sync-me. Registered as exec handlers by the daemon.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {redactSecrets, validateConfig, type ClusterConfig, type ServerEntry} from '../config/schema.js'
import {serializeConfig} from '../config/store.js'
import {writeFileAtomic} from '../config/atomic-file.js'
import {IpFilter} from '../net/ip-filter.js'
import {AdminClient} from '../protocol/admin-client.js'
import {
  DEFAULT_ADMIN_PORT,
  OperationError,
  PATHS,
  formatHostPort,
  type AddServerResult,
  type NodeStatus,
  type PromoteResult,
  type SyncResult,
} from '../protocol/index.js'
import {fenceCheck, type Actor, type ExecContext, type NodeRuntime} from '../daemon/node-runtime.js'
import {Election, type PromiseBook} from './election.js'
import {diffConfigs} from '../config/config-diff.js'
import {connectAsMember} from './member-client.js'
import type {SyncEngine} from './sync-engine.js'

function str(args: Record<string, unknown>, key: string, required = true): string | undefined {
  const v = args[key]
  if (v === undefined && !required) return undefined
  if (typeof v !== 'string' || v === '') throw new OperationError('invalid', `"${key}" is missing or not a string`)
  return v
}

function port(args: Record<string, unknown>): number {
  const v = args.port ?? DEFAULT_ADMIN_PORT
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw new OperationError('invalid', '"port" must be 1-65535')
  return v
}

function requireAdmin(actor: Actor): void {
  if (actor.kind !== 'admin') throw new OperationError('refused', 'this action needs an admin user')
}


export class Membership {
  private readonly election: Election

  constructor(private readonly node: NodeRuntime, private readonly engine: SyncEngine, book: PromiseBook) {
    this.election = new Election(node, engine, book, () => this.selfAsPrimary())
    node.promisedEpoch = () => book.epoch
  }

  register(): void {
    const e = this.node.exec
    e.set('add-server', (a, c) => this.addServer(a, c))
    e.set('join', (a, c) => this.join(a, c))
    e.set('remove-server', (a, c) => this.removeServer(a, c))
    e.set('leave', (a, c) => this.leave(a, c))
    e.set('promote', (a, c) => this.promote(a, c))
    e.set('promise', (a, c) => this.election.promise(a, c))
    e.set('stage', (a, c) => this.stage(a, c))
    e.set('apply-delta', (a, c) => this.applyDelta(a, c))
    e.set('unstage', (a, c) => this.unstage(a, c))
    e.set('keep-diverged', (a, c) => this.keepDiverged(a, c))
    e.set('unjoin', (a, c) => this.unjoin(a, c))
    e.set('sync', async (a, c) => {
      requireAdmin(c.actor)
      const host = str(a, 'host', false)
      return {results: await this.engine.syncNow(host ? {host, port: port(a)} : undefined, a.check === true)}
    })
    e.set('sync-me', async (a, c) => {
      if (c.actor.kind !== 'cluster') throw new OperationError('refused', 'sync-me is for cluster members')
      return this.engine.syncNode(str(a, 'nodeId')!)
    })
  }

  /** This node as the primary other nodes should reach. */
  private selfAsPrimary(): NonNullable<ClusterConfig['primary']> {
    const s = this.node.settings
    return {
      nodeId: s.nodeId,
      host: s.externalAddress ?? s.bind,
      port: this.node.config.sites.admin.port,
      clusterPublicKey: this.node.identity.clusterPublicKey,
      fingerprint: this.node.identity.hostKeyFingerprint,
    }
  }

  private async addServer(args: Record<string, unknown>, ctx: ExecContext): Promise<AddServerResult> {
    requireAdmin(ctx.actor)
    if (this.node.role() === 'secondary') throw this.node.notPrimaryError()
    const host = str(args, 'host')!
    const p = port(args)
    const username = str(args, 'username')!
    const password = str(args, 'password', false)
    const expected = str(args, 'fingerprint', false)
    const dryRun = args.dryRun === true
    const at = formatHostPort(host, p)
    const me = this.selfAsPrimary()
    if ((host === this.node.settings.bind || host === me.host) && p === me.port) throw new OperationError('invalid', `${at} is this node itself`, 'give the address of the secondary')

    ctx.progress('connect', `connecting to ${at} from ${this.node.settings.bind}`)
    let fingerprint = ''
    const existing = this.node.config.servers.find((s) => s.host === host && s.port === p)
    let client: AdminClient
    try {
      client = await AdminClient.connect({
        host, port: p, localAddress: this.node.settings.bind, timeoutMs: 10_000,
        credentials: {username, password},
        checkHostKey: (fp) => {
          fingerprint = fp
          const want = expected ? (expected.startsWith('SHA256:') ? expected : `SHA256:${expected}`).replace(/=+$/, '') : existing?.fingerprint
          if (want && want !== fp) {
            throw new OperationError('host-key', `the host key of ${at} is ${fp}, not the expected ${want}`, expected ? 'check the fingerprint printed by `cluster node init` on the secondary' : 'if the secondary was re-initialised, remove it first with `cluster remove-server`')
          }
        },
      })
    } catch (error) {
      throw this.explainConnectError(error, at, username)
    }
    try {
      ctx.progress('authenticate', `authenticated as ${username}; host key ${fingerprint}${expected ? ' (matches --fingerprint)' : existing ? ' (pinned)' : ' (trusted on first use)'}`, true)
      const status = await client.exec<NodeStatus>('status', null)
      const current = this.node.config
      if (status.nodeId === this.node.settings.nodeId) throw new OperationError('invalid', `${at} is this node itself`)
      if (status.clusterId !== current.clusterId && status.role !== 'standalone') {
        throw new OperationError('refused', `${at} is a ${status.role} of another cluster (${status.clusterId})`, status.role === 'secondary' ? 'remove it from that cluster first (`cluster remove-server` on its primary)' : 'remove its secondaries first, or re-initialise it')
      }
      const entry: ServerEntry = {nodeId: status.nodeId, host, port: p, fingerprint, clusterPublicKey: status.clusterPublicKey, addedAt: new Date().toISOString()}
      const mutate = (c: ClusterConfig) => {
        c.primary ??= me
        c.servers = c.servers.filter((s) => s.nodeId !== entry.nodeId && !(s.host === host && s.port === p))
        c.servers.push(entry)
      }
      const candidate = structuredClone(current)
      mutate(candidate)
      candidate.revision = current.revision + 1
      candidate.lastChange = {by: ctx.actor.user, from: ctx.actor.address, at: new Date().toISOString(), summary: `add-server ${at}`}
      const valid = validateConfig(candidate)
      if (!new IpFilter(valid.sites.admin.ipFilter).allows(this.node.settings.bind)) {
        throw new OperationError('invalid', `the cluster's admin IP filter does not allow the primary's own address ${this.node.settings.bind}`, `add a rule first: cluster ipfilter add --allow ${this.node.settings.bind}/32 --site admin`)
      }
      if (dryRun) {
        const theirs = await client.readJson<ClusterConfig>(PATHS.config)
        const changes = diffConfigs(redactSecrets(valid), theirs)
        ctx.progress('dry-run', `the overwrite would replace ${changes.length} field(s) of ${at}'s configuration`, true)
        return {dryRun: true, server: entry, revision: current.revision, changes}
      }
      ctx.progress('backup', `backing up ${at}'s configuration (revision ${status.revision}) under its config/backups/`)
      ctx.progress('overwrite', `overwriting it with revision ${valid.revision} of the primary's`)
      const joined = await client.exec<{backup: string; revision: number}>('join', {config: valid})
      ctx.progress('overwrite', `backed up to ${joined.backup}; configuration replaced`, true)
      let committed: ClusterConfig
      try {
        try {
          committed = await this.node.store.replace(valid, {by: ctx.actor.user, from: ctx.actor.address, summary: `add-server ${at}`}, (_incoming, now) => {
            if (now.revision !== current.revision) throw new OperationError('conflict', 'changed meanwhile')
          }, {local: true})
        } catch (error) {
          if (!(error instanceof OperationError) || error.code !== 'conflict') throw error
          committed = await this.node.store.change(mutate, {by: ctx.actor.user, from: ctx.actor.address, summary: `add-server ${at}`})
        }
      } catch (error) {
        // Registered on neither side: the secondary takes its own configuration back from the backup.
        ctx.progress('undo', `the primary could not record ${at}; restoring its previous configuration`)
        const undone = await client.exec('unjoin', {backup: joined.backup}).then(() => true, () => false)
        if (error instanceof OperationError) {
          throw new OperationError(error.code, `${error.message}; ${undone ? `${at} was restored to its previous configuration` : `${at} could not be restored: it believes it joined (see \`cluster node status ${at}\`)`}`, error.hint)
        }
        throw error
      }
      ctx.progress('verify', `verifying that ${at} serves revision ${committed.revision} and accepts the cluster key`)
      const [result] = await this.engine.syncNow({host, port: p}, true)
      if (result.state !== 'in-sync') {
        throw new OperationError('refused', `${at} joined but is not in sync: ${result.error ?? result.state}`, 'run `cluster sync` to retry, `cluster diagnose` to investigate')
      }
      ctx.progress('verify', `${at} is in sync at revision ${result.revision}`, true)
      return {dryRun: false, server: entry, revision: committed.revision, backup: joined.backup}
    } finally {
      client.close()
    }
  }

  private explainConnectError(error: unknown, at: string, username: string): unknown {
    if (!(error instanceof OperationError)) return error
    const me = this.node.settings.bind
    if (error.code === 'filtered') {
      return new OperationError(
        'filtered',
        `${at} closed the connection before the SSH banner: its admin IP filter does not allow the primary's address ${me} (or ${me} is banned there after failed logins)`,
        `on the secondary, allow the primary: \`cluster ipfilter add --allow ${me}/32 --site admin --primary ${at}\` (while it is standalone), then run add-server again`,
      )
    }
    if (error.code === 'auth') {
      return new OperationError('auth', `the secondary ${at} refused admin user "${username}"`, 'check --secondary-user and the password (CLUSTER_SECONDARY_PASSWORD or --secondary-password)')
    }
    if (error.code === 'unreachable') return new OperationError('unreachable', `the primary cannot reach ${at}: ${error.message}`, error.hint)
    return error
  }

  /** On the new secondary: back up its own configuration, then take the primary's. */
  private async join(args: Record<string, unknown>, ctx: ExecContext): Promise<{backup: string; revision: number}> {
    requireAdmin(ctx.actor)
    const current = this.node.config
    const role = this.node.role()
    const incoming = args.config
    if (typeof incoming !== 'object' || incoming === null) throw new OperationError('invalid', '"config" is missing')
    const inc = incoming as ClusterConfig
    if (role === 'primary' && current.servers.length > 0) throw new OperationError('refused', 'this node is the primary of a cluster with secondaries', 'remove them first')
    if (role === 'secondary' && inc.clusterId !== current.clusterId) throw this.node.notPrimaryError()
    const backups = path.join(this.node.dataDir, 'config', 'backups')
    await fs.mkdir(backups, {recursive: true, mode: 0o700})
    const backup = path.join(backups, `${new Date().toISOString().replace(/[:.]/g, '-')}-r${current.revision}.json`)
    await writeFileAtomic(backup, serializeConfig(current), 0o600)
    const applied = await this.node.store.replace(incoming, {by: ctx.actor.user, from: ctx.actor.address, summary: 'joined the cluster (configuration overwritten by the primary)'}, (valid) => {
      if (!valid.primary || valid.primary.nodeId === this.node.settings.nodeId) throw new OperationError('invalid', 'the configuration does not name another node as primary')
      if (!valid.servers.some((s) => s.nodeId === this.node.settings.nodeId)) throw new OperationError('invalid', 'the configuration does not list this node')
      if (!new IpFilter(valid.sites.admin.ipFilter).allows(ctx.actor.address)) {
        throw new OperationError('invalid', `the new admin IP filter would lock the primary (${ctx.actor.address}) out of this node`)
      }
    })
    this.node.lastSynchronized = new Date().toISOString()
    this.engine.joined()
    this.node.log.info('joined the cluster', {primary: applied.primary ? formatHostPort(applied.primary.host, applied.primary.port) : null, revision: applied.revision, backup})
    return {backup, revision: applied.revision}
  }

  /** On a secondary that just joined, from the same admin: the primary could not record it; undo the join. */
  private async unjoin(args: Record<string, unknown>, ctx: ExecContext): Promise<{revision: number}> {
    requireAdmin(ctx.actor)
    const backup = str(args, 'backup')!
    const dir = path.join(this.node.dataDir, 'config', 'backups')
    if (path.dirname(path.resolve(backup)) !== dir) throw new OperationError('invalid', 'the backup must be one of this node\'s config/backups/')
    const previous = JSON.parse(await fs.readFile(backup, 'utf8')) as ClusterConfig
    const applied = await this.node.store.replace(previous, {by: ctx.actor.user, from: ctx.actor.address, summary: 'join undone: the primary could not record this node'})
    this.node.log.warn('join undone: previous configuration restored', {backup, revision: applied.revision})
    return {revision: applied.revision}
  }

  private async removeServer(args: Record<string, unknown>, ctx: ExecContext): Promise<{removed: ServerEntry; revision: number; released: boolean; warning: string | null}> {
    requireAdmin(ctx.actor)
    if (this.node.role() === 'secondary') throw this.node.notPrimaryError()
    const host = str(args, 'host')!
    const p = port(args)
    const entry = this.node.config.servers.find((s) => s.host === host && s.port === p)
    if (!entry) throw new OperationError('invalid', `${formatHostPort(host, p)} is not a registered server`, 'list them with `cluster servers`')
    ctx.progress('unregister', `removing ${formatHostPort(host, p)} from the cluster`)
    const committed = await this.node.store.change((c) => {
      c.servers = c.servers.filter((s) => s.nodeId !== entry.nodeId)
    }, {by: ctx.actor.user, from: ctx.actor.address, summary: `remove-server ${formatHostPort(host, p)}`})
    ctx.progress('release', 'telling it that it is standalone')
    let released = false
    let warning: string | null = null
    let client: AdminClient | undefined
    try {
      client = await connectAsMember(this.node.identity.clusterPrivateKey, this.node.settings.bind, entry)
      await client.exec('leave', {})
      released = true
    } catch (error) {
      warning = `${formatHostPort(host, p)} was unregistered but could not be told (${(error as Error).message}); it keeps refusing changes until it is re-initialised or added to a cluster again`
    } finally {
      client?.close()
    }
    ctx.progress('release', released ? 'it is standalone now, keeping its configuration' : warning!, true)
    return {removed: entry, revision: committed.revision, released, warning}
  }

  /** On a secondary, from its primary: become standalone, keeping the configuration. */
  private async leave(_args: Record<string, unknown>, ctx: ExecContext): Promise<{revision: number}> {
    if (ctx.actor.kind !== 'cluster' || ctx.actor.key !== this.node.config.primary?.clusterPublicKey) {
      throw new OperationError('refused', 'only the primary can release a secondary', 'run `cluster remove-server` on the primary')
    }
    const c = structuredClone(this.node.config)
    c.primary = null
    c.servers = []
    c.revision += 1
    c.lastChange = {by: ctx.actor.user, from: ctx.actor.address, at: new Date().toISOString(), summary: 'removed from the cluster: standalone'}
    const applied = await this.node.store.replace(c, {by: ctx.actor.user, from: ctx.actor.address, summary: 'left the cluster'})
    return {revision: applied.revision}
  }

  /** On a secondary: become the primary of a new epoch once a majority of the members accepted it. */
  private async promote(args: Record<string, unknown>, ctx: ExecContext): Promise<PromoteResult> {
    requireAdmin(ctx.actor)
    const role = this.node.role()
    if (role !== 'secondary') throw new OperationError('refused', `this node is ${role}, not a secondary`, role === 'primary' ? 'it is already the primary' : 'add it to a cluster first')
    return this.election.promote(args, ctx)
  }

  /** On a secondary, from its primary: a push as a delta against the revision in effect (delta sync). */
  private async applyDelta(args: Record<string, unknown>, ctx: ExecContext): Promise<{revision: number; hash: string}> {
    if (ctx.actor.kind !== 'cluster') throw new OperationError('refused', 'apply-delta is for cluster members')
    const {doc, base} = this.node.resolveDelta(args.delta)
    const applied = await this.node.applyPush(doc, ctx.actor, base)
    this.node.log.info('configuration applied', {revision: applied.revision, by: ctx.actor.user, from: ctx.actor.address, delta: (args.delta as {ops: unknown[]}).ops.length})
    return {revision: applied.revision, hash: this.node.store.hash}
  }

  /** On a secondary, from its primary: phase one of a commit (written durably, not applied). */
  private async stage(args: Record<string, unknown>, ctx: ExecContext): Promise<{staged: number}> {
    if (ctx.actor.kind !== 'cluster') throw new OperationError('refused', 'stage is for cluster members')
    // A delta names the revision in effect here as its base; the document it makes is staged as a full one is.
    let derivedFrom: ClusterConfig | undefined
    if (args.delta !== undefined) {
      const {doc, base} = this.node.resolveDelta(args.delta)
      args = {config: doc}
      derivedFrom = base
    }
    if (typeof args.config !== 'object' || args.config === null) throw new OperationError('invalid', '"config" is missing')
    const c = args.config as ClusterConfig
    const current = this.node.config
    // Its own removal: nothing to stage here (it is told to leave next); it answers for the old membership.
    if (Array.isArray(c.servers) && !c.servers.some((s) => s.nodeId === this.node.settings.nodeId) && ctx.actor.key === current.primary?.clusterPublicKey && c.epoch === current.epoch && c.revision > current.revision) {
      return {staged: c.revision}
    }
    const staged = await this.node.store.stage(args.config, (incoming, current) => {
      this.node.checkMemberPush(incoming, current, ctx.actor)
      fenceCheck(incoming, current, this.node.store.hash, this.node.promisedEpoch())
    }, {derivedFrom})
    return {staged: staged.revision}
  }

  /** On the primary, from a demoted member: revisions a failover discarded, kept for `config history`. */
  private async keepDiverged(args: Record<string, unknown>, ctx: ExecContext): Promise<{kept: string[]}> {
    if (ctx.actor.kind !== 'cluster') throw new OperationError('refused', 'keep-diverged is for cluster members')
    if (!Array.isArray(args.configs) || args.configs.length > 100) throw new OperationError('invalid', '"configs" must be a list of at most 100 configurations')
    const configs = args.configs.map((c) => validateConfig(c)).filter((c) => c.clusterId === this.node.config.clusterId && c.epoch < this.node.config.epoch)
    return {kept: await this.node.store.keepDiverged(configs)}
  }

  private async unstage(args: Record<string, unknown>, ctx: ExecContext): Promise<{dropped: boolean}> {
    if (ctx.actor.kind !== 'cluster') throw new OperationError('refused', 'unstage is for cluster members')
    const {revision, epoch} = args
    if (typeof revision !== 'number' || typeof epoch !== 'number') throw new OperationError('invalid', 'unstage needs revision and epoch')
    return {dropped: await this.node.store.unstage(revision, epoch)}
  }
}
