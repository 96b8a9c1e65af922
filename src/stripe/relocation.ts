// Moving copies between storage nodes on the gateway: `stripe remove-node` (drain a node: copy each of its
// files elsewhere until it has `replicas` copies on the other nodes, then forget and drop the node's copy) and
// `stripe rebalance` (move files from fuller to emptier nodes). Every copy goes node to node, is checked
// against the catalogue's SHA-256, and only then enters the catalogue; the old copy is dropped after the switch.
// A kill -9 at any point leaves every file readable: an extra copy is all it can leave, and remerge drops it.
import type {StripeSettings} from '../config/schema.js'
import type {Logger} from '../daemon/log.js'
import {OperationError, formatHostPort} from '../protocol/index.js'
import type {SqliteCatalogue} from './catalogue.js'
import type {CatalogueEntry, NodeSpace, StripeNodeLinks} from './contract.js'
import {DrainPlanner, MAX_LISTED, SpaceModel, balancePairs, fileNeeds, pickMove, spread, type BalanceNode, type DrainContext, type DrainPlan} from './relocation-plan.js'

const PAGE = 500
/** Passes over the leaving node's files: busy files (a transfer in progress) are retried on the next one;
 *  failed copies only on the next few (a node refusing them will not change its mind quickly). */
const DRAIN_PASSES = 40
const FAILED_PASSES = 3
const PASS_WAIT_MS = 500
/** How long a drain waits for the gateway to see the node as draining in its own configuration. */
const CONFIG_WAIT_MS = 30_000

export interface RelocationHost {
  catalogue: SqliteCatalogue
  links: StripeNodeLinks
  log: Logger
  settings(): StripeSettings
  busy: Set<string>
  /** A node's latest space report. */
  space(nodeId: string): NodeSpace | undefined
  refreshSpace(): Promise<void>
  /** Counts bytes written to (or removed from) a node before its next space report. */
  stored(nodeId: string, deltaBytes: number): void
  /** Runs `fn` alone among the maintenance tasks (rescan, remerge, re-replication). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
}

export type Progress = (message: string) => void

export interface DrainResult extends DrainPlan {
  dryRun: boolean
  /** Pieces deleted from the leaving node. */
  dropped: number
  /** Copies that could not be made (the node stays, draining; a re-run retries). */
  failed: number
  /** Files skipped because a transfer kept them busy through every pass. */
  busy: number
  /** Every file is safe elsewhere (or lost, with --force): the node may leave the configuration. */
  complete: boolean
}

export interface RebalanceResult {
  moved: number
  bytes: number
  failed: number
  spreadBefore: number
  spreadAfter: number
  nodes: {nodeId: string; capacityBytes: number; usedBytes: number}[]
}

// not unref'd: a drain waiting between passes is work in progress (close() ends it within one pass)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`

export class StripeRelocation {
  private closed = false

  constructor(private readonly host: RelocationHost) {}

  close(): void {
    this.closed = true
  }

  private name(nodeId: string): string {
    const n = this.host.settings().nodes.find((x) => x.nodeId === nodeId)
    return n ? formatHostPort(n.host, n.port) : nodeId
  }

  private up(nodeId: string): boolean {
    return Boolean(this.host.links.get(nodeId)?.up)
  }

  /** Nodes that may receive copies: up, active, with a space report, not `except`. */
  private receivers(except: string | null): {nodeId: string; space: NodeSpace}[] {
    return this.host
      .settings()
      .nodes.filter((n) => n.nodeId !== except && n.state === 'active' && this.up(n.nodeId) && this.host.space(n.nodeId))
      .map((n) => ({nodeId: n.nodeId, space: this.host.space(n.nodeId)!}))
  }

  /** `stripe remove-node`: with `dryRun`, only the plan (refused when it does not fit). */
  drain(nodeId: string, opts: {force: boolean; dryRun: boolean}, progress: Progress): Promise<DrainResult> {
    return this.host.exclusive(() => this.doDrain(nodeId, opts, progress))
  }

  private async plan(nodeId: string, force: boolean): Promise<{ctx: DrainContext; plan: DrainPlan; space: SpaceModel}> {
    const s = this.host.settings()
    const at = this.name(nodeId)
    const remaining = s.nodes.filter((n) => n.nodeId !== nodeId && n.state === 'active')
    if (remaining.length < s.replicas) {
      throw new OperationError('refused', `removing ${at} would leave ${remaining.length} active storage node(s), fewer than the ${s.replicas} copies of every file (stripe.replicas)`, `add a storage node first with \`cluster stripe add-node HOST\`, or lower the copies with \`cluster stripe enable ${s.gateway ? formatHostPort(s.gateway.host, s.gateway.port) : 'GATEWAY'} --replicas ${Math.max(1, remaining.length)}\``)
    }
    if (!force && !this.up(nodeId)) {
      throw new OperationError('refused', `storage node ${at} is down, so its files cannot be copied from it`, `start it again and re-run, or run \`cluster stripe remove-node ${at} --force\` to copy its files from their other copies`)
    }
    await this.host.refreshSpace()
    const space = () => new SpaceModel(this.receivers(nodeId).map((r) => ({nodeId: r.nodeId, capacityBytes: r.space.capacityBytes, usedBytes: r.space.usedBytes})), s.freeSpaceFloorBytes)
    const ctx: DrainContext = {leaving: nodeId, replicas: s.replicas, up: new Set(this.receivers(nodeId).map((r) => r.nodeId)), force}
    const planner = new DrainPlanner(ctx, space())
    for (let page = this.host.catalogue.filesOn(nodeId, '', PAGE); page.length; page = this.host.catalogue.filesOn(nodeId, page[page.length - 1].path, PAGE)) {
      for (const e of page) planner.add(e)
    }
    const plan = planner.result()
    if (plan.unplaced.copies > 0) {
      const free = space().freeBytes()
      throw new OperationError('refused', `the other storage nodes cannot hold the files of ${at}: ${plan.copies + plan.unplaced.copies} copies (${mib(plan.bytes + plan.unplaced.bytes)}) must move, and ${plan.unplaced.copies} of them (${mib(plan.unplaced.bytes)}) do not fit in the ${mib(free)} free on the nodes that are up`, 'add a storage node (`cluster stripe add-node HOST`) or raise their capacity (`--capacity`), delete files, or start the nodes that are down; then run it again')
    }
    return {ctx, plan, space: space()}
  }

  private async doDrain(nodeId: string, opts: {force: boolean; dryRun: boolean}, progress: Progress): Promise<DrainResult> {
    const at = this.name(nodeId)
    if (!this.host.settings().nodes.some((n) => n.nodeId === nodeId)) throw new OperationError('refused', `${at} is not a storage node in the gateway's configuration`, 'run `cluster sync` and try again')
    const {plan} = await this.plan(nodeId, opts.force)
    const result: DrainResult = {...plan, dryRun: opts.dryRun, dropped: 0, failed: 0, busy: 0, complete: false}
    if (opts.dryRun) return result
    // placement must skip the node before its files are counted: wait for the configuration that says so
    const deadline = Date.now() + CONFIG_WAIT_MS
    while (this.host.settings().nodes.find((n) => n.nodeId === nodeId)?.state !== 'draining') {
      if (Date.now() > deadline) throw new OperationError('refused', `the gateway has not received the configuration marking ${at} as draining`, 'check `cluster servers` (is the gateway in sync?) and run it again')
      await sleep(100)
    }
    // transfers already running may still be writing to the node: their files are drained once they end
    const inFlight = new Set(this.host.busy)
    progress(`${at}: draining ${plan.files} files (${plan.copies} copies, ${mib(plan.bytes)} to copy)`)
    result.copies = 0
    result.bytes = 0
    const lost = new Set<string>()
    const unavailable = new Set<string>()
    let failedPasses = 0
    for (let pass = 0; pass < DRAIN_PASSES && !this.closed; pass++) {
      const {ctx, space} = await this.plan(nodeId, opts.force)
      let deferred = 0
      let failed = 0
      for (let after = ''; ; ) {
        const page = this.host.catalogue.filesOn(nodeId, after, PAGE)
        if (page.length === 0) break
        after = page[page.length - 1].path
        for (const e of page) {
          if (this.closed) break
          if (lost.has(e.path)) continue
          if (this.host.busy.has(e.path)) {
            deferred += 1
            continue
          }
          const outcome = await this.drainFile(e, ctx, space, result)
          if (outcome === 'lost') lost.add(e.path)
          else if (outcome === 'unavailable') unavailable.add(e.path)
          else if (outcome === 'failed') failed += 1
          else if (outcome === 'busy') deferred += 1
        }
        progress(`${at}: ${result.copies} copies made (${mib(result.bytes)}), ${result.dropped} dropped from the node`)
      }
      const writing = [...inFlight].filter((p) => this.host.busy.has(p)).length
      result.failed = failed
      result.busy = deferred + writing
      if (deferred === 0 && failed === 0 && writing === 0) break
      if (failed > 0 && ++failedPasses >= FAILED_PASSES) break
      await sleep(PASS_WAIT_MS)
    }
    if (!opts.force && !this.closed && this.up(nodeId)) result.dropped += await this.sweep(nodeId)
    result.lostCount = lost.size
    result.lost = [...lost].slice(0, MAX_LISTED)
    result.unavailableCount = unavailable.size
    result.unavailable = [...unavailable].slice(0, MAX_LISTED)
    const remaining = this.host.catalogue.filesOn(nodeId, '', lost.size + 1).filter((e) => !lost.has(e.path)).length
    result.complete = !this.closed && remaining === 0 && result.failed === 0 && result.busy === 0
    this.host.log.info('drain done', {node: at, copies: result.copies, dropped: result.dropped, lost: lost.size, failed: result.failed, busy: result.busy, complete: result.complete})
    progress(`${at}: ${result.complete ? 'drained' : 'not drained yet'}: ${result.copies} copies made, ${result.dropped} pieces dropped${lost.size ? `, ${lost.size} files LOST` : ''}`)
    return result
  }

  /** One file off the leaving node: copies until `replicas` are elsewhere, then the catalogue forgets the
   *  node's copy, then (unless --force) the node drops it. */
  private async drainFile(e: CatalogueEntry, ctx: DrainContext, space: SpaceModel, result: DrainResult): Promise<'ok' | 'lost' | 'unavailable' | 'failed' | 'busy'> {
    const cat = this.host.catalogue
    const {need, sources, outcome} = fileNeeds(e, ctx)
    // a file with no readable copy keeps its entry (and the node's name in it): if the disk comes back with
    // `stripe add-node`, remerge keeps the copy it finds
    if (outcome === 'lost') return 'lost'
    this.host.busy.add(e.path)
    try {
      const targets = need > 0 && outcome === 'ok' ? space.take(e.size, need, new Set(e.nodes)) : []
      let made = 0
      for (const to of targets) {
        for (const from of sources) {
          const r = await this.copyVerified(e, from, to)
          if (r === 'changed') return 'busy'
          if (r === 'ok') {
            made += 1
            result.copies += 1
            result.bytes += e.size
            break
          }
        }
      }
      if (outcome === 'ok' && made < need) return 'failed'
      const now = cat.get(e.path)
      if (!now || now.type !== 'file' || now.generation !== e.generation) return 'busy'
      cat.setNodes(e.path, now.nodes.filter((n) => n !== ctx.leaving))
      this.host.stored(ctx.leaving, -e.size)
      if (!ctx.force) {
        try {
          await this.host.links.get(ctx.leaving)!.remove(e.path)
          result.dropped += 1
        } catch (error) {
          this.host.log.warn('drain could not drop a copy (the sweep retries)', {path: e.path, error: (error as Error).message})
        }
      }
      return outcome === 'unavailable' ? 'unavailable' : 'ok'
    } finally {
      this.host.busy.delete(e.path)
    }
  }

  /** Copies `e` from one node to another and, once the target's SHA-256 matches the catalogue, names the target
   *  in the entry. 'changed': the file was rewritten meanwhile (the copy is dropped). */
  private async copyVerified(e: CatalogueEntry, from: string, to: string): Promise<'ok' | 'failed' | 'changed'> {
    const cat = this.host.catalogue
    const source = this.host.links.get(from)
    const target = this.host.links.get(to)
    if (!source?.up || !target?.up) return 'failed'
    try {
      const piece = await source.replicateTo(e.path, target.node, e.generation)
      const now = cat.get(e.path)
      if (!now || now.type !== 'file' || now.generation !== e.generation) {
        if (!now?.nodes.includes(to)) await target.remove(e.path).catch(() => {})
        return 'changed'
      }
      if (piece.sha256 !== now.sha256 || piece.size !== now.size) {
        this.host.log.warn('a copy does not match the catalogue: dropped', {path: e.path, from: this.name(from), to: this.name(to), sha256: piece.sha256, expected: now.sha256})
        if (!now.nodes.includes(to)) await target.remove(e.path).catch(() => {})
        return 'failed'
      }
      cat.setNodes(e.path, [...now.nodes, to])
      this.host.stored(to, e.size)
      return 'ok'
    } catch (error) {
      this.host.log.warn('copy failed', {path: e.path, from: this.name(from), to: this.name(to), error: (error as Error).message})
      return 'failed'
    }
  }

  /** Drops what is left on a drained node: copies the catalogue no longer names there (an interrupted run). */
  private async sweep(nodeId: string): Promise<number> {
    const link = this.host.links.get(nodeId)!
    const paths: string[] = []
    await link.inventory((p) => {
      if (paths.length < 100_000) paths.push(p.path)
    })
    let dropped = 0
    for (const p of paths) {
      const e = this.host.catalogue.get(p)
      if (this.host.busy.has(p) || (e?.type === 'file' && e.nodes.includes(nodeId))) continue
      try {
        await link.remove(p)
        dropped += 1
      } catch (error) {
        this.host.log.warn('drain sweep could not drop a copy', {path: p, error: (error as Error).message})
      }
    }
    return dropped
  }

  /** `stripe rebalance`: moves files from the fullest nodes (used/capacity) to the emptiest while that evens
   *  them out. Each move: copy, verify, switch the catalogue, drop the old copy. Resumable: it starts from
   *  where the catalogue is. */
  rebalance(progress: Progress): Promise<RebalanceResult> {
    return this.host.exclusive(() => this.doRebalance(progress))
  }

  private async doRebalance(progress: Progress): Promise<RebalanceResult> {
    await this.host.refreshSpace()
    const s = this.host.settings()
    const perNode = this.host.catalogue.stats().perNode
    const nodes: BalanceNode[] = this.receivers(null).map((r) => ({nodeId: r.nodeId, capacityBytes: r.space.capacityBytes, usedBytes: perNode.get(r.nodeId)?.bytes ?? 0, freeBytes: r.space.freeBytes}))
    const result: RebalanceResult = {moved: 0, bytes: 0, failed: 0, spreadBefore: spread(nodes), spreadAfter: spread(nodes), nodes: []}
    const skip = new Set<string>()
    // each move lowers Σ used²/capacity, so this ends; the bound only guards against a catalogue changing under it
    const maxMoves = this.host.catalogue.stats().files * 2 + 10
    progress(`rebalance: ${nodes.length} nodes up, spread of used/capacity ${(result.spreadBefore * 100).toFixed(2)} %`)
    for (let i = 0; i < maxMoves && !this.closed && nodes.length > 1; i++) {
      let move: {from: BalanceNode; to: BalanceNode; e: CatalogueEntry} | null = null
      for (const [from, to] of balancePairs(nodes)) {
        const files = this.host.catalogue.filesOn(from.nodeId, '', 2000)
        const e = pickMove(from, to, files, s.freeSpaceFloorBytes, (f) => skip.has(f.path) || this.host.busy.has(f.path))
        if (e) {
          move = {from, to, e}
          break
        }
      }
      if (!move) break
      const ok = await this.moveOne(move.e, move.from.nodeId, move.to.nodeId)
      if (!ok) {
        result.failed += 1
        skip.add(move.e.path)
        continue
      }
      move.from.usedBytes -= move.e.size
      move.to.usedBytes += move.e.size
      move.to.freeBytes -= move.e.size
      result.moved += 1
      result.bytes += move.e.size
      progress(`rebalance: ${result.moved} files moved (${mib(result.bytes)}), spread ${(spread(nodes) * 100).toFixed(2)} %`)
    }
    result.spreadAfter = spread(nodes)
    result.nodes = nodes.map((n) => ({nodeId: n.nodeId, capacityBytes: n.capacityBytes, usedBytes: n.usedBytes}))
    this.host.log.info('rebalance done', {moved: result.moved, bytes: result.bytes, failed: result.failed, spreadBefore: result.spreadBefore, spreadAfter: result.spreadAfter})
    return result
  }

  /** Copy to `to`, verify, switch the catalogue from `from` to `to` in one write, then drop `from`'s copy. */
  private async moveOne(e: CatalogueEntry, from: string, to: string): Promise<boolean> {
    const cat = this.host.catalogue
    if (this.host.busy.has(e.path)) return false
    this.host.busy.add(e.path)
    try {
      const source = this.host.links.get(from)
      const target = this.host.links.get(to)
      if (!source?.up || !target?.up) return false
      const piece = await source.replicateTo(e.path, target.node, e.generation)
      const now = cat.get(e.path)
      if (!now || now.type !== 'file' || now.generation !== e.generation || piece.sha256 !== now.sha256 || piece.size !== now.size || !now.nodes.includes(from) || now.nodes.includes(to)) {
        if (!now?.nodes.includes(to)) await target.remove(e.path).catch(() => {})
        return false
      }
      cat.setNodes(e.path, [...now.nodes.filter((n) => n !== from), to])
      this.host.stored(to, e.size)
      this.host.stored(from, -e.size)
      // the old copy is surplus now: if this fails, remerge drops it when the node next reconnects
      await source.remove(e.path).catch((error: Error) => this.host.log.warn('rebalance could not drop the old copy', {path: e.path, node: this.name(from), error: error.message}))
      return true
    } catch (error) {
      this.host.log.warn('rebalance move failed', {path: e.path, from: this.name(from), to: this.name(to), error: (error as Error).message})
      return false
    } finally {
      this.host.busy.delete(e.path)
    }
  }
}
