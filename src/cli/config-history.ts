// `config history` and `config rollback`: the revisions a node keeps in /config/history/, and the document
// that restores one of them as a new revision.
import {diffConfigs, type ConfigChange} from '../config/config-diff.js'
import type {ClusterConfig} from '../config/schema.js'
import {OperationError, PATHS, type RejectedDocument} from '../protocol/index.js'
import type {AdminClient} from '../protocol/admin-client.js'

/** One kept revision as `config history --json` shows it. */
export interface HistoryEntry {
  revision: number
  epoch: number
  time: string
  by: string
  from: string
  summary: string
}

export interface HistoryReport {
  current: number
  /** How many revisions the node keeps now (the list is cut at --limit). */
  kept: number
  revisions: HistoryEntry[]
}

/** Membership is managed by add-server/remove-server/promote: a rollback keeps the current one. */
export const MEMBERSHIP_FIELDS = ['clusterId', 'epoch', 'primary', 'servers'] as const

/** Fields every write changes by itself: not content. */
const BOOKKEEPING = new Set(['revision', 'lastChange', 'baseRevision'])

export function historyEntry(c: ClusterConfig): HistoryEntry {
  return {revision: c.revision, epoch: c.epoch, time: c.lastChange.at, by: c.lastChange.by, from: c.lastChange.from, summary: c.lastChange.summary}
}

/** Newest first, at most `limit`; each file read in parallel over the one SFTP channel. */
export async function readHistory(client: AdminClient, current: number, limit: number): Promise<HistoryReport> {
  const revisions = (await client.list(PATHS.historyDir))
    .map((n) => /^(\d+)\.json$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a)
  const shown = await Promise.all(revisions.slice(0, limit).map((r) => readRevision(client, r)))
  return {current, kept: revisions.length, revisions: shown.map(historyEntry)}
}

/** The refused configuration writes the node kept, newest first, at most `limit`. */
export async function readRejected(client: AdminClient, limit: number): Promise<RejectedDocument> {
  try {
    const doc = await client.readJson<RejectedDocument>(PATHS.rejected)
    return {kept: doc.kept, rejected: doc.rejected.slice(0, limit)}
  } catch (error) {
    if (error instanceof OperationError && /no such file/.test(error.message)) {
      throw new OperationError('refused', 'this node keeps no record of refused writes (it runs an older version)', 'upgrade the node, or read its log: refusals are logged as "configuration write refused"')
    }
    throw error
  }
}

export async function readRevision(client: AdminClient, revision: number): Promise<ClusterConfig> {
  try {
    return await client.readJson<ClusterConfig>(`${PATHS.historyDir}/${revision}.json`)
  } catch (error) {
    if (error instanceof OperationError && /no such file/.test(error.message)) {
      throw new OperationError('refused', `revision ${revision} is not in the history of this node`, 'list the kept revisions with `cluster config history`')
    }
    throw error
  }
}

/** Content fields that differ, without the bookkeeping every write changes. */
export function contentChanges(from: ClusterConfig, to: ClusterConfig): ConfigChange[] {
  return diffConfigs(from, to).filter((c) => !BOOKKEEPING.has(c.path.split(/[.[]/)[0]))
}

/**
 * The document restoring `target` on top of `current`: the target's content with the current membership
 * (rolling it back would orphan or re-register servers behind their back) and the current bookkeeping.
 * `kept` names the membership fields that differ from the target and were kept.
 */
export function rollbackDocument(target: ClusterConfig, current: ClusterConfig): {doc: ClusterConfig; kept: string[]} {
  const doc = structuredClone(target)
  const kept: string[] = []
  for (const f of MEMBERSHIP_FIELDS) {
    if (JSON.stringify(target[f]) !== JSON.stringify(current[f])) kept.push(f)
    ;(doc as unknown as Record<string, unknown>)[f] = structuredClone(current[f])
  }
  doc.revision = current.revision
  doc.lastChange = current.lastChange
  return {doc, kept}
}
