// The gateway's write path shared by its FTP verbs and its SFTP sessions: the replication chain (the last
// node listens for the one before it; the first receives from the client, the relay or a spool file and
// forwards while it receives), the seal-compare-commit of every copy, and the removal of stale copies.
import {setTimeout as delay} from 'node:timers/promises'
import {TransferAborted} from '../daemon/ftp/transfer.js'
import type {Logger} from '../daemon/log.js'
import {FileError} from '../daemon/session/types.js'
import type {Catalogue, CatalogueEntry, PieceInfo} from './contract.js'
import {newToken} from './data-path.js'
import type {DataEndpoint} from './link-protocol.js'
import {LinkError, type NodeLink, type NodeLinks} from './node-links.js'

/** What the gateway's verbs (FTP) and sessions (FTP metadata, SFTP) need from it. */
export interface Gateway {
  catalogue: Catalogue
  links: NodeLinks
  busy: Set<string>
  log: Logger
  /** The gateway's address: relay sockets listen there. */
  bind: string
  dataTimeoutMs: number
  replicas(): number
  /** Nodes for a new file (placement), skipping `exclude`. */
  choose(sizeHint: number, exclude: ReadonlySet<string>): string[]
  /** The node may take a new file: it is a storage node and not draining (`stripe remove-node`). */
  takesNewFiles(nodeId: string): boolean
  /** Bookkeeping after a write (placement's view of used space). */
  stored(nodeId: string, deltaBytes: number): void
  /** Where the SFTP relay stages files (the gateway's data dir). */
  spoolDir: string
}

/** A durable copy and the node holding it. */
export interface Stored {
  nodeId: string
  piece: PieceInfo
}

export interface Replica {
  link: NodeLink
  id: number
  sealed: Promise<{size: number; sha256: string}>
  result: Promise<PieceInfo>
}

/**
 * Sets up the replication chain (the last node listens for the one before it, …) and the first node's
 * receive from `endpoint`; resolves once every replica listens, with a function that waits for the seals.
 */
export async function startChain(nodes: NodeLink[], args: {path: string; offset: number; owner: string; generation: number; tls: boolean}, endpoint: DataEndpoint, onOpened: () => void): Promise<Replica[]> {
  const replicas: Replica[] = []
  let forward: {host: string; port: number; token: string} | undefined
  const cancelAll = () => replicas.forEach((r) => r.link.cancel(r.id))
  try {
    for (let i = nodes.length - 1; i >= 0; i--) {
      const link = nodes[i]
      let listening!: (port: number) => void
      let sealed!: (v: {size: number; sha256: string}) => void
      const port = new Promise<number>((r) => (listening = r))
      const sealedP = new Promise<{size: number; sha256: string}>((r) => (sealed = r))
      const token = newToken()
      const ep: DataEndpoint = i === 0 ? endpoint : {listen: {peer: nodes[i - 1].node.host, token}}
      const call = link.receive({path: args.path, offset: args.offset, endpoint: ep, tls: i === 0 ? args.tls : false, forward, owner: args.owner, generation: args.generation, twoPhase: true}, (ev) => {
        if ('listening' in ev) listening(ev.listening)
        if ('received' in ev) sealed(ev.received)
        if ('opened' in ev && i === 0) onOpened()
      })
      const r: Replica = {link, id: call.id, result: call.result, sealed: Promise.race([sealedP, call.result.then(() => Promise.reject(new Error(`storage node ${link.name} ended the upload without sealing it`)))])}
      r.sealed.catch(() => {})
      replicas.unshift(r)
      if (i > 0) {
        const p = await Promise.race([port, call.result.then(() => -1)])
        if (p < 0) throw new Error(`storage node ${link.name} did not listen for the replication chain`)
        forward = {host: link.node.host, port: p, token}
      }
    }
  } catch (error) {
    cancelAll()
    throw error
  }
  return replicas
}

/** Both (all) replicas sealed with the same size and hash, the client still there: commit them all. */
export async function finishChain(stillWanted: () => boolean, replicas: Replica[]): Promise<{pieces: Stored[]; failed: string[]}> {
  const cancelAll = () => replicas.forEach((r) => r.link.cancel(r.id))
  let seals
  try {
    seals = await Promise.all(replicas.map((r) => r.sealed))
  } catch (error) {
    cancelAll()
    // a node whose disk filled up: the client is told there is no space (452), not of a local error
    if (error instanceof LinkError && error.kind === 'no-space') throw new FileError('no-space', error.message)
    throw error
  }
  if (seals.some((s) => s.size !== seals[0].size || s.sha256 !== seals[0].sha256)) {
    cancelAll()
    throw new FileError('io', `the replicas differ (${seals.map((s) => `${s.size} bytes ${s.sha256.slice(0, 12)}`).join(' / ')}); nothing was stored`)
  }
  // a killed client closes data and control together: give the control EOF time to arrive before committing
  for (let i = 0; i < 6 && stillWanted(); i++) await delay(5)
  if (!stillWanted()) {
    cancelAll()
    throw new TransferAborted('control connection closed during the upload')
  }
  const outcomes = await Promise.allSettled(replicas.map(async (r) => {
    await r.link.commit(r.id)
    return r.result
  }))
  const pieces: Stored[] = []
  const failed: string[] = []
  outcomes.forEach((o, i) => (o.status === 'fulfilled' ? pieces.push({nodeId: replicas[i].link.node.nodeId, piece: o.value}) : failed.push(`${replicas[i].link.name}: ${(o.reason as Error).message}`)))
  return {pieces, failed}
}

/** An overwrite that landed on other nodes: the old copies elsewhere are removed. */
export async function dropStale(gw: Gateway, before: CatalogueEntry | undefined, after: CatalogueEntry): Promise<void> {
  if (!before || before.type !== 'file') return
  const stale = before.nodes.filter((n) => !after.nodes.includes(n))
  await Promise.allSettled(stale.map(async (n) => {
    await gw.links.get(n)?.remove(after.path)
    gw.stored(n, -before.size)
  }))
}

