// Read-modify-write of the cluster configuration on the primary: read /config/current.json, change it, write
// it back with `baseRevision`; a conflict (someone else changed it meanwhile) is retried on the new revision.
import type {AdminClient} from '../protocol/admin-client.js'
import {OperationError, PATHS, type CommitReport, type NodeStatus} from '../protocol/index.js'
import type {ClusterConfig} from '../config/schema.js'
import {canonicalize} from '../config/canonical-json.js'

const ATTEMPTS = 5

let commitListener: ((report: CommitReport) => void) | undefined

/** Who held each committed change (the primary's report): the command warns and adds it to its JSON. */
export function onCommitReport(listener: (report: CommitReport) => void): void {
  commitListener = listener
}

/** Hands the primary's report on a change this command made to the command (warning, `--json`). */
export function reportCommit(report: CommitReport): void {
  commitListener?.(report)
}

/** `summary` is what `config history` and the audit log show for this change (e.g. "users add alice"). */
export async function editConfig(client: AdminClient, mutate: (config: ClusterConfig) => void | Promise<void>, summary?: string): Promise<ClusterConfig> {
  return (await applyEdit(client, mutate, summary)).config
}

/**
 * The same, saying whether anything changed: a mutation that leaves the document as it was writes nothing,
 * so re-running a provisioning step makes no new revision.
 */
export async function applyEdit(client: AdminClient, mutate: (config: ClusterConfig) => void | Promise<void>, summary?: string): Promise<{config: ClusterConfig; changed: boolean}> {
  for (let attempt = 1; ; attempt++) {
    const config = await client.readJson<ClusterConfig>(PATHS.config)
    const before = JSON.stringify(canonicalize(config))
    await mutate(config)
    if (JSON.stringify(canonicalize(config)) === before) return {config, changed: false}
    try {
      await client.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision, ...(summary ? {changeSummary: summary} : {})}))
      const status = await client.exec<NodeStatus>('status', null)
      // Another writer may have committed meanwhile: only the report of this change's revision counts.
      if (status.lastCommit && status.lastCommit.revision === config.revision + 1) commitListener?.(status.lastCommit)
      return {config: {...config, revision: status.revision}, changed: true}
    } catch (error) {
      if (!(error instanceof OperationError) || error.code !== 'conflict' || attempt >= ATTEMPTS) throw error
    }
  }
}

export async function readConfig(client: AdminClient): Promise<ClusterConfig> {
  return client.readJson<ClusterConfig>(PATHS.config)
}
