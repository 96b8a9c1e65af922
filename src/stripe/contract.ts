// The striped FTP cluster's internal contract: what the gateway's FTP/SFTP front (verbs, data paths) needs
// from the catalogue and placement, and what the catalogue's maintenance (rescan, re-replication, remerge,
// rebalance, verify, remove-node) needs from the links to the storage nodes. Types only: the two sides are
// built against this file (stripe.md, "Our shape").

/** A storage node as the gateway knows it: a member's admin address (config `stripe.nodes[]`). */
export interface StripeNodeRef {
  nodeId: string
  host: string
  /** Its admin port: the kept-open link authenticates there with the cluster identity. */
  port: number
}

/** One file piece as a storage node holds it (its inventory line). Paths are virtual: `/dir/file`. */
export interface PieceInfo {
  path: string
  size: number
  mtimeMs: number
  /** The user who uploaded it (the catalogue's owner). */
  owner: string
  /** Hex SHA-256 of the whole content, computed while it was received. */
  sha256: string
  /** Catalogue generation the piece was written at: on remerge, a lower one than the catalogue's is stale. */
  generation: number
}

/** A node's space as it reports it. `capacityBytes` already applies the operator's cap. */
export interface NodeSpace {
  capacityBytes: number
  usedBytes: number
  freeBytes: number
  files: number
}

/** Operations on one storage node over the gateway's kept-open link. Every method rejects with an Error whose
 *  message names the node when the node is unreachable or refuses. */
export interface StripeNodeOps {
  readonly node: StripeNodeRef
  /** The link is connected and answering. */
  readonly up: boolean
  space(): Promise<NodeSpace>
  /** Streams the node's whole inventory (remerge, rescan). */
  inventory(onPiece: (piece: PieceInfo) => void): Promise<void>
  /** Re-reads the piece and hashes it (verify); null when the node has no such piece. */
  hash(path: string): Promise<{size: number; sha256: string} | null>
  /** Copies a piece node to node (this node sends, `target` receives and makes it durable), never through the
   *  gateway; resolves with the target's piece once durable there. */
  replicateTo(path: string, target: StripeNodeRef, generation: number): Promise<PieceInfo>
  remove(path: string): Promise<void>
  /** Renames a file or a whole directory on this node. */
  rename(from: string, to: string, generation: number): Promise<void>
  mkdir(path: string): Promise<void>
  rmdir(path: string): Promise<void>
}

/** The set of links the gateway keeps, one per `stripe.nodes[]` entry. */
export interface StripeNodeLinks {
  get(nodeId: string): StripeNodeOps | undefined
  all(): StripeNodeOps[]
  /** Called with the node id whenever a link goes up or down (re-replication timers, status). */
  onChange(listener: (nodeId: string, up: boolean) => void): void
}

/** One entry of the catalogue: a file or a directory of the virtual tree. */
export interface CatalogueEntry {
  path: string
  type: 'file' | 'dir'
  size: number
  mtimeMs: number
  owner: string
  /** Hex SHA-256 of a file's content; null for directories. */
  sha256: string | null
  /** Node ids holding a durable copy (files); empty for directories. */
  nodes: string[]
  /** Bumped on every change of the entry; pieces carry it (PieceInfo.generation). */
  generation: number
}

/** The gateway's catalogue (durable: a method that changes it returns once the change is on disk). */
export interface Catalogue {
  get(path: string): CatalogueEntry | undefined
  /** Children of a directory, sorted by name; bounded by `limit` when given. */
  list(dir: string, limit?: number): CatalogueEntry[]
  /** Records a file whose copies are durable on `entry.nodes`; creates missing parent directories. */
  putFile(entry: Omit<CatalogueEntry, 'type' | 'generation'>): CatalogueEntry
  mkdir(path: string, owner: string, mtimeMs?: number): CatalogueEntry
  /** Removes a file, or an empty directory. */
  remove(path: string): void
  /** Renames a file or a directory with its whole subtree. */
  rename(from: string, to: string): void
  setMtime(path: string, mtimeMs: number): void
  setNodes(path: string, nodes: string[]): void
  /** The next generation number to stamp a write with. */
  nextGeneration(): number
  /** Files with a copy on a node (re-replication, remove-node, rebalance), in path order, paged. */
  filesOn(nodeId: string, afterPath?: string, limit?: number): CatalogueEntry[]
  /** Files with fewer than `replicas` copies among `liveNodes`. */
  underReplicated(replicas: number, liveNodes: string[], limit?: number): CatalogueEntry[]
  stats(): {files: number; dirs: number; bytes: number; perNode: Map<string, {files: number; bytes: number}>}
  close(): void
}

/** What placement knows of a node when it chooses. */
export interface PlacementCandidate {
  nodeId: string
  up: boolean
  draining: boolean
  capacityBytes: number
  usedBytes: number
}

/** Chooses the nodes for a new file: most free space relative to capacity first, never below the free-space
 *  floor, round-robin on ties, never two copies on one node, skipping `exclude` (nodes that just failed). */
export type ChoosePlacement = (
  candidates: PlacementCandidate[],
  opts: {replicas: number; sizeHint: number; floorBytes: number; exclude?: ReadonlySet<string>},
) => string[]
