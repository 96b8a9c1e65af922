import {Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {readHistory, readRejected, type HistoryReport} from '../../cli/config-history.js'
import {renderTable} from '../../cli/ui/table.js'
import {PATHS, type NodeStatus, type RejectedDocument} from '../../protocol/index.js'

export default class ConfigHistory extends ClusterCommand<typeof ConfigHistory> {
  static override summary = 'List the past revisions of the configuration, newest first'
  static override description = 'Reads the revisions the primary keeps in /config/history/ (a bounded number) with who made each change, from where, when, and its summary. Roll back to one with `cluster config rollback REVISION`. With --rejected, lists instead the configuration writes the node refused (from /config/rejected.json, the newest 100 kept): when, who, from where and the reason the writer was given.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --limit 5',
    '<%= config.bin %> <%= command.id %> --json | jq \'.revisions[] | select(.by == "admin")\'',
    '<%= config.bin %> <%= command.id %> --rejected',
  ]
  static override flags = {
    limit: Flags.integer({description: 'show at most this many revisions (or refusals)', default: 20, min: 1}),
    rejected: Flags.boolean({description: 'list the refused configuration writes instead: time, who, from where, reason'}),
  }

  async run(): Promise<HistoryReport | RejectedDocument> {
    const client = await this.connect(this.primaryTarget())
    if (this.flags.rejected) return this.showRejected(await readRejected(client, this.flags.limit))
    const status = await client.readJson<NodeStatus>(PATHS.status)
    const report = await readHistory(client, status.revision, this.flags.limit)
    this.say(renderTable(['REVISION', 'EPOCH', 'TIME', 'BY', 'FROM', 'SUMMARY'], report.revisions.map((r) => [
      r.revision === report.current ? `${r.revision} ${this.paint.ok('(current)')}` : r.revision, r.epoch, r.time, r.by, r.from, r.summary,
    ])))
    if (report.kept > report.revisions.length) this.say(this.paint.dim(`… ${report.kept - report.revisions.length} older revision(s) kept; see --limit`))
    return report
  }

  private showRejected(doc: RejectedDocument): RejectedDocument {
    if (doc.rejected.length === 0) this.say('No configuration write has been refused (of those kept).')
    else this.say(renderTable(['TIME', 'BY', 'FROM', 'REASON'], doc.rejected.map((r) => [r.time, r.by, r.from, r.reason])))
    if (doc.kept > doc.rejected.length) this.say(this.paint.dim(`… ${doc.kept - doc.rejected.length} older refusal(s) kept; see --limit`))
    return doc
  }
}
