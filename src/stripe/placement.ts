// Placement of a new file (stripe.md, DrFTPD's filter chain made simple): the nodes with the most free space
// relative to their capacity, never below the free-space floor, round-robin among near-equals, never two copies
// on one node, skipping nodes that are down, draining or just failed.
import type {ChoosePlacement, PlacementCandidate} from './contract.js'

/** Free ratios closer than this count as a tie: used space reported a moment ago is never exact. */
export const TIE_BAND = 0.01

/** The eligible candidates, best first, with the tied leaders rotated by `turn` (pure: the unit under test). */
export function rankCandidates(
  candidates: PlacementCandidate[],
  opts: {sizeHint: number; floorBytes: number; exclude?: ReadonlySet<string>},
  turn: number,
): PlacementCandidate[] {
  const seen = new Set<string>()
  const eligible = candidates.filter((c) => {
    if (seen.has(c.nodeId)) return false // one copy per node, even if the list names it twice
    seen.add(c.nodeId)
    if (!c.up || c.draining || opts.exclude?.has(c.nodeId) || c.capacityBytes <= 0) return false
    return c.capacityBytes - c.usedBytes - Math.max(0, opts.sizeHint) >= opts.floorBytes
  })
  const ratio = (c: PlacementCandidate): number => (c.capacityBytes - c.usedBytes) / c.capacityBytes
  // by ratio, then by id: the order (and so the rotation) does not depend on the order of the config's list
  eligible.sort((a, b) => ratio(b) - ratio(a) || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
  if (eligible.length === 0) return eligible
  const best = ratio(eligible[0])
  let tied = 1
  while (tied < eligible.length && best - ratio(eligible[tied]) <= TIE_BAND) tied += 1
  const shift = ((turn % tied) + tied) % tied
  // the leaders in id order, so the rotation visits each in turn however their ratios jitter inside the band
  const leaders = eligible.slice(0, tied).sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1))
  return [...leaders.slice(shift), ...leaders.slice(0, shift), ...eligible.slice(tied)]
}

/** A placement function with its own round-robin turn (one per gateway). Returns up to `replicas` distinct
 *  node ids, best first; fewer (or none) when not enough nodes can take the file: the caller refuses (452). */
export function createPlacement(): ChoosePlacement {
  let turn = 0
  return (candidates, opts) => {
    const ranked = rankCandidates(candidates, opts, turn)
    turn = (turn + 1) % 1_000_000
    return ranked.slice(0, Math.max(1, opts.replicas)).map((c) => c.nodeId)
  }
}
