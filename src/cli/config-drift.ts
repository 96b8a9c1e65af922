// `config diff`: the primary's configuration against a secondary's, field by field (drift).
import {diffConfigs, type ConfigChange} from '../config/config-diff.js'
import type {ClusterConfig} from '../config/schema.js'

/** `cluster config diff HOST --json` (cli.md). */
export interface DriftReport {
  identical: boolean
  primaryRevision: number
  serverRevision: number | null
  changes: ConfigChange[]
}

/** One secondary in `cluster config diff --json` without HOST; `error` when it could not be read. */
export interface ServerDrift extends DriftReport {
  host: string
  port: number
  error: string | null
}

/** Revisions are reported on their own, not as a changed field. */
export function compareConfigs(primary: ClusterConfig, server: ClusterConfig): DriftReport {
  const changes = diffConfigs(primary, server).filter((c) => c.path !== 'revision')
  return {
    identical: changes.length === 0 && primary.revision === server.revision,
    primaryRevision: primary.revision,
    serverRevision: server.revision,
    changes,
  }
}

/** A value for a table cell: JSON, shortened. */
export function shortValue(v: unknown, max = 40): string {
  const s = JSON.stringify(v) ?? 'null'
  return s.length > max ? s.slice(0, max - 1) + '…' : s
}
