import {Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {readHistory, type HistoryReport} from '../../cli/config-history.js'
import {renderTable} from '../../cli/ui/table.js'
import {PATHS, type NodeStatus} from '../../protocol/index.js'

export default class ConfigHistory extends ClusterCommand<typeof ConfigHistory> {
  static override summary = 'List the past revisions of the configuration, newest first'
  static override description = 'Reads the revisions the primary keeps in /config/history/ (a bounded number) with who made each change, from where, when, and its summary. Roll back to one with `cluster config rollback REVISION`.'
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
    this.say(renderTable(['REVISION', 'EPOCH', 'TIME', 'BY', 'FROM', 'SUMMARY'], report.revisions.map((r) => [
      r.revision === report.current ? `${r.revision} ${this.paint.ok('(current)')}` : r.revision, r.epoch, r.time, r.by, r.from, r.summary,
    ])))
    if (report.kept > report.revisions.length) this.say(this.paint.dim(`… ${report.kept - report.revisions.length} older revision(s) kept; see --limit`))
    return report
  }
}
