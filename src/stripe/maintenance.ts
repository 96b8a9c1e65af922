// The catalogue's upkeep on the gateway (stripe.md "What none of them does"): rescan (rebuild from the nodes'
// inventories, the truth), remerge of a node that comes back (stale and surplus copies dropped), and
// re-replication once a node has stayed down longer than `stripe.reReplicateAfterSeconds`, node to node from a
// surviving copy. One task at a time, so two passes never copy the same file twice.
import type {StripeSettings} from '../config/schema.js'
import type {Logger} from '../daemon/log.js'
import type {SqliteCatalogue} from './catalogue.js'
import type {CatalogueEntry, PieceInfo, StripeNodeLinks, StripeNodeOps} from './contract.js'

const BATCH = 500

export interface MaintenanceHost {
  catalogue: SqliteCatalogue
  links: StripeNodeLinks
  log: Logger
  settings(): StripeSettings
  /** Placement for extra copies: up to `replicas` node ids, skipping `exclude`. */
  choose(sizeHint: number, exclude: ReadonlySet<string>): string[]
  /** Paths with a transfer in progress: left alone until it ends; maintenance holds a path here while it works on it. */
  busy: Set<string>
}

export type Progress = (message: string) => void

export interface RescanResult {
  nodes: string[]
  skippedNodes: string[]
  files: number
  conflicts: number
  droppedEntries: number
}
export interface RemergeResult {
  nodeId: string
  kept: number
  adopted: number
  dropped: number
  missing: number
}
export interface ReReplicateResult {
  copied: number
  failed: number
  /** Files whose every copy is on a node that is down: nothing to copy from until one returns. */
  unavailable: number
}

export interface VerifyResult {
  files: number
  copiesChecked: number
  /** A copy whose re-read size or SHA-256 is not the catalogue's, or that is missing on its node. */
  mismatches: {path: string; nodeId: string; expected: {size: number; sha256: string | null}; actual: {size: number; sha256: string} | null}[]
  /** Copies on nodes that are down, not checked. */
  unchecked: number
}

const same = (e: CatalogueEntry, p: PieceInfo): boolean => e.size === p.size && e.sha256 === p.sha256

export class StripeMaintenance {
  private chain: Promise<unknown> = Promise.resolve()
  private readonly downSince = new Map<string, number>()
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private closed = false

  constructor(private readonly host: MaintenanceHost, private readonly now: () => number = Date.now) {}

  /** Watches the links: remerge on return, re-replication after the grace period. Rescans an empty catalogue
   *  once every configured node has answered (or after `waitMs`, with those that did). */
  start(waitMs = 10_000): void {
    const start = this.now()
    for (const n of this.host.settings().nodes) if (!this.host.links.get(n.nodeId)?.up) this.markDown(n.nodeId, start)
    const s = this.host.catalogue.stats()
    const empty = s.files === 0 && s.dirs === 0
    let initial: Promise<unknown> | null = null
    if (empty) {
      initial = this.whenAllUp(waitMs).then(() => this.enqueue(() => this.doRescan(() => {})))
      initial.catch((error: Error) => this.host.log.warn('rescan at start failed', {error: error.message}))
    }
    this.host.links.onChange((nodeId, up) => {
      if (this.closed) return
      if (!up) return this.markDown(nodeId, this.now())
      this.clearDown(nodeId)
      // an empty catalogue is being rebuilt from every node: a remerge would drop what the rescan has not reached
      void (initial ?? Promise.resolve()).then(() => this.remerge(nodeId)).then(() => this.reReplicate()).catch((error: Error) => this.host.log.warn('remerge failed', {node: nodeId, error: error.message}))
    })
  }

  close(): void {
    this.closed = true
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }

  /** Nodes the maintenance counts as holding their copies: up, or down for less than the grace period. */
  liveNodes(): string[] {
    const grace = this.host.settings().reReplicateAfterSeconds * 1000
    return this.host.settings().nodes.map((n) => n.nodeId).filter((id) => this.host.links.get(id)?.up || (this.downSince.has(id) && this.now() - this.downSince.get(id)! < grace))
  }

  rescan(progress: Progress = () => {}): Promise<RescanResult> {
    return this.enqueue(() => this.doRescan(progress))
  }

  remerge(nodeId: string, progress: Progress = () => {}): Promise<RemergeResult> {
    return this.enqueue(() => this.doRemerge(nodeId, progress))
  }

  reReplicate(progress: Progress = () => {}): Promise<ReReplicateResult> {
    return this.enqueue(() => this.doReReplicate(progress))
  }

  /** Re-hashes every copy on the nodes that are up and compares it with the catalogue (read-only). */
  async verify(progress: Progress = () => {}): Promise<VerifyResult> {
    const result: VerifyResult = {files: 0, copiesChecked: 0, mismatches: [], unchecked: 0}
    for (let page = this.host.catalogue.files('', BATCH); page.length; page = this.host.catalogue.files(page[page.length - 1].path, BATCH)) {
      for (const e of page) {
        if (this.closed) return result
        result.files += 1
        for (const id of e.nodes) {
          const link = this.host.links.get(id)
          if (!link?.up) {
            result.unchecked += 1
            continue
          }
          const actual = await link.hash(e.path)
          const now = this.host.catalogue.get(e.path)
          // rewritten or removed while it was hashed: not a mismatch
          if (!now || now.generation !== e.generation || !now.nodes.includes(id)) continue
          result.copiesChecked += 1
          if (!actual || actual.size !== e.size || actual.sha256 !== e.sha256) result.mismatches.push({path: e.path, nodeId: id, expected: {size: e.size, sha256: e.sha256}, actual})
        }
      }
      progress(`verify: ${result.files} files, ${result.copiesChecked} copies checked, ${result.mismatches.length} mismatches`)
    }
    this.host.log.info('verify done', {files: result.files, copiesChecked: result.copiesChecked, mismatches: result.mismatches.length, unchecked: result.unchecked})
    return result
  }

  /** Runs `fn` after the tasks queued before it, and before those queued after (remove-node, rebalance). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.enqueue(fn)
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn)
    this.chain = next.catch(() => {})
    return next
  }

  private markDown(nodeId: string, at: number): void {
    if (!this.downSince.has(nodeId)) this.downSince.set(nodeId, at)
    clearTimeout(this.timers.get(nodeId))
    const wait = Math.max(0, this.downSince.get(nodeId)! + this.host.settings().reReplicateAfterSeconds * 1000 - this.now())
    const t = setTimeout(() => {
      this.timers.delete(nodeId)
      if (this.closed || this.host.links.get(nodeId)?.up) return
      this.host.log.info('node down past the grace period: re-replicating its files', {node: nodeId})
      this.reReplicate().catch((error: Error) => this.host.log.warn('re-replication failed', {error: error.message}))
    }, wait + 50)
    t.unref()
    this.timers.set(nodeId, t)
  }

  private clearDown(nodeId: string): void {
    this.downSince.delete(nodeId)
    clearTimeout(this.timers.get(nodeId))
    this.timers.delete(nodeId)
  }

  private async whenAllUp(waitMs: number): Promise<void> {
    const deadline = this.now() + waitMs
    const ids = () => this.host.settings().nodes.map((n) => n.nodeId)
    while (!this.closed && this.now() < deadline && !ids().every((id) => this.host.links.get(id)?.up)) await new Promise((r) => setTimeout(r, 100).unref())
  }

  /** Streams a node's inventory in batches, so a million pieces never sit in memory at once. */
  private async inventory(link: StripeNodeOps, onBatch: (pieces: PieceInfo[]) => Promise<void> | void): Promise<void> {
    let batch: PieceInfo[] = []
    let pending: Promise<void> = Promise.resolve()
    await link.inventory((p) => {
      batch.push(p)
      if (batch.length >= BATCH) {
        const b = batch
        batch = []
        pending = pending.then(() => onBatch(b))
      }
    })
    await pending
    if (batch.length) await onBatch(batch)
  }

  private async doRescan(progress: Progress): Promise<RescanResult> {
    const cat = this.host.catalogue
    const configured = this.host.settings().nodes.map((n) => n.nodeId)
    const up = configured.filter((id) => this.host.links.get(id)?.up)
    const result: RescanResult = {nodes: up, skippedNodes: configured.filter((id) => !up.includes(id)), files: 0, conflicts: 0, droppedEntries: 0}
    cat.beginSeen()
    for (const id of up) {
      const link = this.host.links.get(id)!
      let n = 0
      await this.inventory(link, (pieces) => {
        cat.batch(() => {
          for (const p of pieces) {
            cat.advanceGeneration(p.generation)
            const e = cat.get(p.path)
            if (!e) cat.putFile({path: p.path, size: p.size, mtimeMs: p.mtimeMs, owner: p.owner, sha256: p.sha256, nodes: [id], generation: p.generation})
            else if (e.type === 'file' && same(e, p)) {
              if (!e.nodes.includes(id)) cat.setNodes(p.path, [...e.nodes, id])
            } else if (e.type === 'file' && p.generation > e.generation) {
              // two versions: the newer write wins; the older copies are stale and remerge drops them
              result.conflicts += 1
              cat.putFile({path: p.path, size: p.size, mtimeMs: p.mtimeMs, owner: p.owner, sha256: p.sha256, nodes: [id], generation: p.generation})
            } else result.conflicts += 1
          }
        })
        cat.markSeen(id, pieces.map((p) => p.path))
        n += pieces.length
        progress(`${id}: ${n} pieces read`)
      })
    }
    // copies the catalogue still names on a scanned node but the node no longer has
    for (const id of up) {
      for (let paths = cat.unseenOn(id); paths.length; paths = cat.unseenOn(id, paths[paths.length - 1])) {
        cat.batch(() => {
          for (const p of paths) {
            const e = cat.get(p)
            if (!e) continue
            const rest = e.nodes.filter((x) => x !== id)
            // with every node scanned, a file on none of them is gone
            if (rest.length === 0 && result.skippedNodes.length === 0) {
              cat.remove(p)
              result.droppedEntries += 1
            } else cat.setNodes(p, rest)
          }
        })
      }
    }
    result.files = cat.stats().files
    progress(`catalogue rebuilt: ${result.files} files from ${up.length} nodes`)
    this.host.log.info('rescan done', {...result})
    return result
  }

  private async doRemerge(nodeId: string, progress: Progress): Promise<RemergeResult> {
    const cat = this.host.catalogue
    const link = this.host.links.get(nodeId)
    if (!link?.up) throw new Error(`node ${nodeId} is not connected: it cannot be remerged`)
    // pieces written after this point belong to uploads in progress: not ours to judge
    const snapshot = cat.currentGeneration()
    const replicas = this.host.settings().replicas
    const result: RemergeResult = {nodeId, kept: 0, adopted: 0, dropped: 0, missing: 0}
    const drop: string[] = []
    cat.beginSeen()
    await this.inventory(link, (pieces) => {
      const live = new Set(this.liveNodes())
      cat.batch(() => {
        for (const p of pieces) {
          if (p.generation > snapshot || this.host.busy.has(p.path)) continue
          const e = cat.get(p.path)
          if (e?.type !== 'file') {
            drop.push(p.path)
            continue
          }
          if (e.nodes.includes(nodeId)) {
            if (same(e, p)) result.kept += 1
            else {
              drop.push(p.path)
              cat.setNodes(p.path, e.nodes.filter((x) => x !== nodeId))
            }
            continue
          }
          const liveCopies = e.nodes.filter((x) => live.has(x) && x !== nodeId).length
          if (same(e, p) && liveCopies < replicas) {
            cat.setNodes(p.path, [...e.nodes, nodeId])
            result.adopted += 1
          } else drop.push(p.path)
        }
      })
      cat.markSeen(nodeId, pieces.map((p) => p.path))
    })
    for (let paths = cat.unseenOn(nodeId); paths.length; paths = cat.unseenOn(nodeId, paths[paths.length - 1])) {
      cat.batch(() => {
        for (const p of paths) {
          const e = cat.get(p)
          if (!e || e.generation > snapshot || this.host.busy.has(p)) continue
          cat.setNodes(p, e.nodes.filter((x) => x !== nodeId))
          result.missing += 1
        }
      })
    }
    for (const p of drop) {
      // re-checked: the path may have been written to this node since the inventory was read
      const e = cat.get(p)
      if (this.host.busy.has(p) || (e?.type === 'file' && e.nodes.includes(nodeId))) continue
      this.host.busy.add(p)
      try {
        await link.remove(p)
        result.dropped += 1
      } catch (error) {
        this.host.log.warn('remerge could not drop a copy', {node: nodeId, path: p, error: (error as Error).message})
      } finally {
        this.host.busy.delete(p)
      }
    }
    progress(`${nodeId}: ${result.kept} kept, ${result.adopted} adopted, ${result.dropped} dropped, ${result.missing} missing`)
    this.host.log.info('remerge done', {...result})
    return result
  }

  private async doReReplicate(progress: Progress): Promise<ReReplicateResult> {
    const cat = this.host.catalogue
    const replicas = this.host.settings().replicas
    const result: ReReplicateResult = {copied: 0, failed: 0, unavailable: 0}
    let after = ''
    for (;;) {
      const live = this.liveNodes()
      const page = cat.underReplicated(replicas, live, BATCH, after)
      if (page.length === 0) break
      after = page[page.length - 1].path
      for (const e of page) {
        if (this.closed) return result
        if (this.host.busy.has(e.path)) continue
        const up = e.nodes.filter((n) => this.host.links.get(n)?.up)
        if (up.length === 0) {
          result.unavailable += 1
          continue
        }
        const liveCopies = e.nodes.filter((n) => live.includes(n))
        const targets = this.host.choose(e.size, new Set(e.nodes)).slice(0, replicas - liveCopies.length)
        for (const target of targets) {
          const ok = await this.copy(e, up[0], target)
          if (ok) result.copied += 1
          else result.failed += 1
        }
        if (targets.length === 0) result.failed += 1
      }
      progress(`re-replication: ${result.copied} copies made`)
    }
    if (result.copied || result.failed) this.host.log.info('re-replication pass done', {...result})
    return result
  }

  /** Copies one file node to node; the catalogue then names the target instead of the copies that are dead. */
  private async copy(e: CatalogueEntry, from: string, to: string): Promise<boolean> {
    const cat = this.host.catalogue
    const source = this.host.links.get(from)
    const target = this.host.links.get(to)
    if (!source || !target || this.host.busy.has(e.path)) return false
    this.host.busy.add(e.path)
    try {
      const piece = await source.replicateTo(e.path, target.node, e.generation)
      const now = cat.get(e.path)
      if (!now || now.type !== 'file' || now.generation !== e.generation || now.sha256 !== piece.sha256 || now.size !== piece.size) {
        // the file changed while it was copied: the copy is stale already
        if (!(now?.nodes.includes(to))) await target.remove(e.path).catch(() => {})
        return false
      }
      const live = new Set(this.liveNodes())
      cat.setNodes(e.path, [...now.nodes.filter((n) => live.has(n)), to])
      return true
    } catch (error) {
      this.host.log.warn('re-replication copy failed', {path: e.path, from, to, error: (error as Error).message})
      return false
    } finally {
      this.host.busy.delete(e.path)
    }
  }
}
