import {Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {readDiverged, readHistory, type HistoryReport} from '../../cli/config-history.js'
import {renderTable} from '../../cli/ui/table.js'
import {PATHS, type NodeStatus} from '../../protocol/index.js'

export default class ConfigHistory extends ClusterCommand<typeof ConfigHistory> {
  static override summary = 'List the past revisions of the configuration, newest first'
  static override description = 'Reads the revisions the primary keeps in /config/history/ (a bounded number) with who made each change, from where, when, and its summary. Roll back to one with `cluster config rollback REVISION`. Revisions a failover discarded (changes a demoted primary had that the new one never got, kept in config/diverged/) are listed as "discarded by failover" with an id EPOCH-REVISION that `cluster config rollback` re-applies as a new change.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --limit 5',
    '<%= config.bin %> <%= command.id %> --json | jq \'.revisions[] | select(.by == "admin")\'',
  ]
  static override flags = {
    limit: Flags.integer({description: 'show at most this many revisions', default: 20, min: 1}),
  }

  async run(): Promise<HistoryReport> {
    const client = await this.connect(this.primaryTarget())
    const status = await client.readJson<NodeStatus>(PATHS.status)
    const report = await readHistory(client, status.revision, this.flags.limit)
    const discarded = await readDiverged(client, this.flags.limit)
    if (discarded.length > 0) report.discarded = discarded
    this.say(renderTable(['REVISION', 'EPOCH', 'TIME', 'BY', 'FROM', 'SUMMARY'], report.revisions.map((r) => [
      r.revision === report.current ? `${r.revision} ${this.paint.ok('(current)')}` : r.revision, r.epoch, r.time, r.by, r.from, r.summary,
    ])))
    if (report.kept > report.revisions.length) this.say(this.paint.dim(`… ${report.kept - report.revisions.length} older revision(s) kept; see --limit`))
    if (discarded.length > 0) {
      this.say(`\n${this.paint.warn('Discarded by failover')} (re-apply one with \`cluster config rollback EPOCH-REVISION\`):`)
      this.say(renderTable(['ID', 'STATUS', 'TIME', 'BY', 'FROM', 'SUMMARY'], discarded.map((d) => [d.id, d.status, d.time, d.by, d.from, d.summary])))
    }
    return report
  }
}
