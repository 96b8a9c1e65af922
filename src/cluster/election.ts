// One primary per epoch: `promote` takes a new epoch only once a majority of the members promised it. Each
// member records the highest epoch it promised (config/promise.json, durable) and refuses a second candidate
// for it, and pushes or staged changes from older epochs. The winner starts from the newest configuration the
// majority holds (committed or staged), so a change a majority acknowledged survives the failover.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {writeFileAtomic} from '../config/atomic-file.js'
import type {ClusterConfig, ServerEntry} from '../config/schema.js'
import {newerThan} from '../config/store.js'
import {OperationError, formatHostPort, type PromoteResult} from '../protocol/index.js'
import type {ExecContext, NodeRuntime} from '../daemon/node-runtime.js'
import {connectAsMember, type MemberTarget} from './member-client.js'
import {majorityOf, type SyncEngine} from './sync-engine.js'

/** What a member promised: epoch E to candidate C (and when: a fresh promise holds off other candidates). */
export interface EpochPromise {
  epoch: number
  candidate: string
  address: string
  at: string
}

/** Arguments of the member-to-member `promise` exec. */
export interface PromiseRequest {
  epoch: number
  candidate: string
  address: string
  /** The candidate's epoch when its promote began: a member that saw a newer one since names the winner. */
  baseEpoch: number
}

export interface PromiseGrant {
  nodeId: string
  address: string
  config: ClusterConfig
  staged: ClusterConfig | null
}

/** A fresh promise to one candidate keeps others off this long (it is probably winning). */
const HOLD_MS = 5000
const ASK_TIMEOUT_MS = 3000
const ATTEMPTS = 6
const EPOCH_RECORDS = 32

export class PromiseBook {
  private constructor(private readonly file: string, public current: EpochPromise | null) {}

  static async open(dataDir: string): Promise<PromiseBook> {
    const file = path.join(dataDir, 'config', 'promise.json')
    const text = await fs.readFile(file, 'utf8').catch(() => null)
    let current: EpochPromise | null = null
    try {
      if (text) current = JSON.parse(text) as EpochPromise
    } catch {
      current = null // a torn file cannot happen (atomic writes); an unreadable one promises nothing
    }
    return new PromiseBook(file, current)
  }

  get epoch(): number {
    return this.current?.epoch ?? 0
  }

  /** Durable before it is answered: a member that restarts keeps its word. */
  async grant(p: EpochPromise): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(p) + '\n')
    this.current = p
  }

  /** A recent promise to another candidate for an epoch newer than `baseEpoch`. */
  heldFor(candidate: string, baseEpoch: number): EpochPromise | null {
    const c = this.current
    if (!c || c.candidate === candidate || c.epoch <= baseEpoch) return null
    return Date.now() - Date.parse(c.at) < HOLD_MS ? c : null
  }
}

type Answer = {ok: true; grant: PromiseGrant} | {ok: false; address: string; error: OperationError}

export class Election {
  /** True while this node asks for promises: it grants none to others meanwhile (no split win). */
  private electing = false
  /** When this node last moved to a newer epoch: a promote just won holds off a concurrent one. */
  private epochChangedAt = 0

  constructor(private readonly node: NodeRuntime, private readonly engine: SyncEngine, private readonly book: PromiseBook, private readonly self: () => NonNullable<ClusterConfig['primary']>) {
    node.store.on('change', (config: ClusterConfig, previous: ClusterConfig) => {
      if (config.epoch > previous.epoch) this.epochChangedAt = Date.now()
    })
  }

  /** The primary of an epoch that began here less than HOLD_MS ago (a promote that just won), if any. */
  private recentWinner(): string | null {
    const c = this.node.config
    if (Date.now() - this.epochChangedAt >= HOLD_MS || !c.primary) return null
    return formatHostPort(c.primary.host, c.primary.port)
  }

  private get me(): string {
    const s = this.self()
    return formatHostPort(s.host, s.port)
  }

  /** On a member: a candidate asks for `epoch`. */
  async promise(args: Record<string, unknown>, ctx: ExecContext): Promise<PromiseGrant> {
    if (ctx.actor.kind !== 'cluster') throw new OperationError('refused', 'promise is for cluster members')
    const {epoch, candidate, address, baseEpoch} = args as unknown as PromiseRequest
    if (![epoch, baseEpoch].every((n) => Number.isInteger(n)) || typeof candidate !== 'string' || typeof address !== 'string') {
      throw new OperationError('invalid', 'promise needs epoch, baseEpoch, candidate and address')
    }
    const c = this.node.config
    const entry = [c.primary, ...c.servers].find((m) => m?.nodeId === candidate)
    if (!entry || entry.clusterPublicKey !== ctx.actor.key) throw new OperationError('refused', `${address} is not a member of this node's cluster`)
    if (this.electing) throw new OperationError('conflict', `${this.me} is running a promote itself`)
    // A newer epoch than the candidate saw, or one that began just now: a concurrent promote won.
    const recent = this.recentWinner()
    if (c.epoch > baseEpoch || c.epoch >= epoch || (recent && c.epoch > 1)) {
      const p = c.primary ? formatHostPort(c.primary.host, c.primary.port) : 'another node'
      throw new OperationError('conflict', `${p} already won the promote (epoch ${c.epoch})`)
    }
    if (this.book.epoch >= epoch) throw new OperationError('conflict', `epoch ${this.book.epoch} is already promised to ${this.book.current!.address}`)
    // Its own earlier candidacy does not hold others off (only the `electing` flag does, while it asks).
    const held = this.book.heldFor(candidate, baseEpoch)
    if (held && held.candidate !== this.node.settings.nodeId) throw new OperationError('conflict', `the promote of ${held.address} is in progress (epoch ${held.epoch})`)
    await this.book.grant({epoch, candidate, address, at: new Date().toISOString()})
    this.node.log.info('promised a new epoch to a promote candidate', {epoch, candidate: address})
    this.engine.fence(`the promote of ${address} took epoch ${epoch}`)
    return {nodeId: this.node.settings.nodeId, address: this.me, config: this.node.config, staged: await this.node.store.staged()}
  }

  /** On the candidate (a secondary): become the primary of a new epoch a majority accepted. */
  async promote(args: Record<string, unknown>, ctx: ExecContext): Promise<PromoteResult> {
    const force = args.force === true
    const base = this.node.config
    const baseEpoch = base.epoch
    const me = this.self()
    const members: (MemberTarget & {nodeId: string})[] = [base.primary!, ...base.servers.filter((s) => s.nodeId !== me.nodeId)]
    const need = majorityOf(members.length + 1)
    const recent = this.recentWinner()
    if (recent) throw this.lost(`${recent} won a promote just now (epoch ${base.epoch}); run promote again later if that is not what you want`)
    let last: {epoch: number; accepted: string[]; refusals: string[]} = {epoch: 0, accepted: [], refusals: []}
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const c = this.node.config
      if (c.epoch > baseEpoch) throw this.lost(`${c.primary ? formatHostPort(c.primary.host, c.primary.port) : 'another node'} won the promote (epoch ${c.epoch}); this node is its secondary`)
      const held = this.book.heldFor(me.nodeId, baseEpoch)
      if (held) throw this.lost(`the promote of ${held.address} won epoch ${held.epoch} here first`)
      const epoch = Math.max(c.epoch, this.book.epoch) + 1
      let answers: Answer[]
      this.electing = true
      try {
        await this.book.grant({epoch, candidate: me.nodeId, address: this.me, at: new Date().toISOString()})
        ctx.progress('promise', `asking ${members.length} member(s) to accept epoch ${epoch} (a majority is ${need} of ${members.length + 1})`)
        answers = await Promise.all(members.map((m) => this.ask(m, {epoch, candidate: me.nodeId, address: this.me, baseEpoch})))
      } finally {
        this.electing = false
      }
      const grants = answers.filter((a): a is Extract<Answer, {ok: true}> => a.ok).map((a) => a.grant)
      const refused = answers.filter((a): a is Extract<Answer, {ok: false}> => !a.ok)
      last = {epoch, accepted: [this.me, ...grants.map((g) => g.address)], refusals: refused.map((r) => `${r.address}: ${r.error.message}`)}
      const won = refused.find((r) => /already won/.test(r.error.message))
      if (won) throw this.lost(`${won.address} says ${won.error.message}`)
      if (grants.length + 1 >= need) return this.become(epoch, grants, last.accepted, false, ctx)
      const contested = refused.some((r) => r.error.code === 'conflict')
      if (!contested) break
      // Two candidates at once: back off at random, the larger address clearly longer (so one of them gets
      // through first), and try a newer epoch.
      const rival = refused.find((r) => r.error.code === 'conflict')!
      ctx.progress('promise', `contested (${rival.address}: ${rival.error.message}); retrying`)
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 300 + (this.me > rival.address ? 700 : 0)))
    }
    if (force && !last.refusals.some((r) => /promote|promised/.test(r))) {
      ctx.progress('force', `FORCED: taking epoch ${last.epoch} with ${last.accepted.length} of ${members.length + 1} members; changes only the others had are lost if they return`, true)
      this.node.log.warn('promote forced without a majority', {epoch: last.epoch, accepted: last.accepted, refusals: last.refusals})
      return this.become(last.epoch, [], last.accepted, true, ctx)
    }
    throw new OperationError(
      'refused',
      `did not become the primary: ${last.accepted.length} of ${members.length + 1} members accepted epoch ${last.epoch}, a majority needs ${need}: ${last.refusals.join('; ')}`,
      force ? 'another promote is in progress; check `cluster servers` on the members' : 'bring the members back and run promote again; if a majority is lost for good, `cluster promote HOST --force`',
    )
  }

  private lost(message: string): OperationError {
    return new OperationError('refused', `did not become the primary: ${message}`, 'use that primary (`--primary HOST`); run `cluster servers` there')
  }

  private async ask(target: MemberTarget & {nodeId: string}, req: PromiseRequest): Promise<Answer> {
    const address = formatHostPort(target.host, target.port)
    let timer: NodeJS.Timeout | undefined
    let client: Awaited<ReturnType<typeof connectAsMember>> | undefined
    try {
      const work = (async () => {
        client = await connectAsMember(this.node.identity.clusterPrivateKey, this.node.settings.bind, target, ASK_TIMEOUT_MS)
        return client.exec<PromiseGrant>('promise', req)
      })()
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new OperationError('unreachable', `no answer within ${ASK_TIMEOUT_MS / 1000} s`)), ASK_TIMEOUT_MS)
      })
      work.catch(() => {})
      return {ok: true, grant: await Promise.race([work, timeout])}
    } catch (error) {
      const e = error instanceof OperationError ? error : new OperationError('internal', (error as Error).message)
      return {ok: false, address, error: e}
    } finally {
      clearTimeout(timer)
      client?.close()
    }
  }

  /** Takes the newest configuration the accepting members hold (committed or staged) into the new epoch. */
  private async become(epoch: number, grants: PromiseGrant[], accepted: string[], forced: boolean, ctx: ExecContext): Promise<PromoteResult> {
    const mine = this.node.config
    const staged = await this.node.store.staged()
    const known = [mine, staged, ...grants.flatMap((g) => [g.config, g.staged])].filter((c): c is ClusterConfig => c !== null && c.clusterId === mine.clusterId)
    const best = known.reduce((a, b) => (newerThan(b, a) ? b : a))
    const me = this.self()
    if (!best.servers.some((s) => s.nodeId === me.nodeId) && best.primary?.nodeId !== me.nodeId) {
      throw new OperationError('refused', 'did not become the primary: the newest configuration of the cluster no longer lists this node', 'it was removed; add it again with `cluster add-server`')
    }
    const now = new Date().toISOString()
    const next = structuredClone(best)
    const old = best.primary!
    next.epoch = epoch
    next.revision = best.revision + 1
    next.primary = me
    const others: ServerEntry[] = best.servers.filter((s) => s.nodeId !== me.nodeId)
    if (old.nodeId !== me.nodeId) others.push({nodeId: old.nodeId, host: old.host, port: old.port, fingerprint: old.fingerprint, clusterPublicKey: old.clusterPublicKey, addedAt: now})
    next.servers = others
    next.epochs = [...best.epochs, {epoch, revision: next.revision}].slice(-EPOCH_RECORDS)
    next.lastChange = {by: ctx.actor.user, from: ctx.actor.address, at: now, summary: `promote ${this.me} (epoch ${epoch})${forced ? ' FORCED without a majority' : ''}`}
    if (best !== mine) ctx.progress('promote', `starting from revision ${best.revision} (epoch ${best.epoch}), newer than this node's ${mine.revision}`, true)
    ctx.progress('promote', `taking over as primary with epoch ${epoch}`)
    const applied = await this.node.store.replace(next, {by: ctx.actor.user, from: ctx.actor.address, summary: `promoted to primary${forced ? ' (forced)' : ''}`})
    this.node.log.warn('promoted to primary', {epoch: applied.epoch, revision: applied.revision, oldPrimary: formatHostPort(old.host, old.port), acceptedBy: accepted, forced})
    ctx.progress('promote', `primary now; pushing epoch ${applied.epoch} to ${applied.servers.length} server(s)`, true)
    return {epoch: applied.epoch, revision: applied.revision, primary: this.me, acceptedBy: accepted, forced}
  }
}
