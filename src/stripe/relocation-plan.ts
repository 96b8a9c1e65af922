// Where copies go when files move between storage nodes (`stripe remove-node`, `stripe rebalance`): a space
// model of the receiving nodes, the drain plan (does everything fit, what is lost), and the rebalance's choice
// of the next move. Pure: no I/O, the units under test; the gateway feeds it the catalogue and space reports.

export interface SpaceNode {
  nodeId: string
  capacityBytes: number
  usedBytes: number
}

/** Booked placement of copies: each one goes to the node with the most free space relative to its capacity
 *  (placement's rule), never below the free-space floor, never to a node that already holds the file. */
export class SpaceModel {
  private readonly nodes: SpaceNode[]

  constructor(nodes: SpaceNode[], private readonly floorBytes: number) {
    this.nodes = nodes.filter((n) => n.capacityBytes > 0).map((n) => ({...n}))
  }

  /** Books up to `count` distinct nodes for `size` bytes, skipping `exclude`; fewer when they do not fit. */
  take(size: number, count: number, exclude: ReadonlySet<string>): string[] {
    const ratio = (n: SpaceNode) => (n.capacityBytes - n.usedBytes) / n.capacityBytes
    const fit = this.nodes
      .filter((n) => !exclude.has(n.nodeId) && n.capacityBytes - n.usedBytes - size >= this.floorBytes)
      .sort((a, b) => ratio(b) - ratio(a) || (a.nodeId < b.nodeId ? -1 : 1))
      .slice(0, Math.max(0, count))
    for (const n of fit) n.usedBytes += size
    return fit.map((n) => n.nodeId)
  }

  /** Free bytes above the floor over all nodes (for the refusal's message). */
  freeBytes(): number {
    return this.nodes.reduce((a, n) => a + Math.max(0, n.capacityBytes - n.usedBytes - this.floorBytes), 0)
  }
}

/** A file as the drain sees it: its size and the nodes the catalogue names. */
export interface PlannedFile {
  path: string
  size: number
  nodes: string[]
}

/** Most paths a drain report lists (counts are exact). */
export const MAX_LISTED = 1000

export interface DrainPlan {
  /** Files with a copy on the leaving node. */
  files: number
  /** Copies to make elsewhere, and their bytes. */
  copies: number
  bytes: number
  /** Copies no remaining node can take (the drain is refused when > 0). */
  unplaced: {copies: number; bytes: number}
  /** Files whose only copy is on the leaving node and cannot be read from it (--force). */
  lost: string[]
  lostCount: number
  /** Files whose other copies are all on nodes that are down (--force): they return with those nodes. */
  unavailable: string[]
  unavailableCount: number
}

export interface DrainContext {
  leaving: string
  replicas: number
  /** Nodes that are up, the leaving one excluded. */
  up: ReadonlySet<string>
  /** The leaving node is not contacted (dead): copies come from the others. */
  force: boolean
}

/** What a file needs before the leaving node may forget it: copies to make and where they can come from. */
export function fileNeeds(f: PlannedFile, ctx: DrainContext): {need: number; sources: string[]; outcome: 'ok' | 'lost' | 'unavailable'} {
  const others = f.nodes.filter((n) => n !== ctx.leaving)
  const upHolders = others.filter((n) => ctx.up.has(n))
  const need = Math.max(0, ctx.replicas - upHolders.length)
  const sources = ctx.force ? upHolders : [ctx.leaving, ...upHolders]
  if (need > 0 && sources.length === 0) return {need, sources, outcome: others.length === 0 ? 'lost' : 'unavailable'}
  return {need, sources, outcome: 'ok'}
}

/** Accumulates the plan of a drain over the catalogue's pages of files on the leaving node. */
export class DrainPlanner {
  private readonly plan: DrainPlan = {files: 0, copies: 0, bytes: 0, unplaced: {copies: 0, bytes: 0}, lost: [], lostCount: 0, unavailable: [], unavailableCount: 0}

  constructor(private readonly ctx: DrainContext, private readonly space: SpaceModel) {}

  add(f: PlannedFile): void {
    const p = this.plan
    p.files += 1
    const {need, outcome} = fileNeeds(f, this.ctx)
    if (outcome === 'lost') {
      p.lostCount += 1
      if (p.lost.length < MAX_LISTED) p.lost.push(f.path)
      return
    }
    if (outcome === 'unavailable') {
      p.unavailableCount += 1
      if (p.unavailable.length < MAX_LISTED) p.unavailable.push(f.path)
      return
    }
    if (need === 0) return
    const got = this.space.take(f.size, need, new Set(f.nodes)).length
    p.copies += got
    p.bytes += got * f.size
    p.unplaced.copies += need - got
    p.unplaced.bytes += (need - got) * f.size
  }

  result(): DrainPlan {
    return this.plan
  }
}

/** A node as the rebalance weighs it: bytes the catalogue places there, and its capacity. */
export interface BalanceNode extends SpaceNode {
  /** Bytes it can still take (its own report, less what this run moved in), for the floor check. */
  freeBytes: number
}

const ratio = (n: SpaceNode): number => n.usedBytes / n.capacityBytes

/** max - min of used/capacity: 0 when perfectly even. */
export function spread(nodes: SpaceNode[]): number {
  const r = nodes.filter((n) => n.capacityBytes > 0).map(ratio)
  return r.length < 2 ? 0 : Math.max(...r) - Math.min(...r)
}

/**
 * How much moving `size` bytes from `from` to `to` lowers Σ used²/capacity, times capacity(from)·capacity(to),
 * exactly (BigInt: byte counts multiplied overflow a double). Positive means the spread shrinks; the sum only
 * ever falls, so a run of such moves ends and never moves a file back and forth.
 */
export function moveGain(from: SpaceNode, to: SpaceNode, size: number): bigint {
  const s = BigInt(size)
  const uF = BigInt(from.usedBytes)
  const uT = BigInt(to.usedBytes)
  const cF = BigInt(from.capacityBytes)
  const cT = BigInt(to.capacityBytes)
  return s * (2n * (uF * cT - uT * cF) - s * (cF + cT))
}

/** Pairs (from, to) worth a move, the most uneven first. */
export function balancePairs<N extends SpaceNode>(nodes: N[]): [N, N][] {
  const ok = nodes.filter((n) => n.capacityBytes > 0)
  const pairs: [N, N][] = []
  for (const a of ok) for (const b of ok) if (a !== b && ratio(a) > ratio(b)) pairs.push([a, b])
  return pairs.sort((x, y) => ratio(y[0]) - ratio(y[1]) - (ratio(x[0]) - ratio(x[1])))
}

/** The file on `from` whose move to `to` lowers the spread most: not on `to` already (never two copies on one
 *  node), fitting `to` above the floor, not skipped by the caller (busy). Null when none improves it. */
export function pickMove<F extends PlannedFile>(from: SpaceNode, to: BalanceNode, files: F[], floorBytes: number, skip: (f: F) => boolean = () => false): F | null {
  let best: F | null = null
  let bestGain = 0n
  for (const f of files) {
    if (f.size <= 0 || f.nodes.includes(to.nodeId) || !f.nodes.includes(from.nodeId) || skip(f)) continue
    if (to.capacityBytes - to.usedBytes - f.size < floorBytes || to.freeBytes - f.size < floorBytes) continue
    const gain = moveGain(from, to, f.size)
    if (gain > bestGain) {
      best = f
      bestGain = gain
    }
  }
  return best
}
