import {Flags} from '@oclif/core'
import {askBans, bansTable} from '../../cli/bans.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import type {BansResult} from '../../protocol/index.js'

export default class BansList extends ClusterCommand<typeof BansList> {
  static override summary = 'List the addresses banned after failed logins, on every node (or one)'
  static override description = `The defender bans an address after repeated failed logins (default: 15 in 30 minutes, for 30 minutes, longer on repeat). A banned client of the admin endpoint is told so in one line before the connection closes; \`cluster\` shows that line.

By default the primary answers for every member (it asks each with its cluster key; a ban never blocks a member's cluster key). --node asks that node directly from this machine — for a node not registered yet, e.g. the secondary an add-server with a wrong password got the primary banned on.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --node 10.0.0.12',
    '<%= config.bin %> <%= command.id %> --json | jq -r \'.nodes[].bans[].address\'',
  ]
  static override flags = {
    node: Flags.string({description: 'ask this node directly (HOST[:PORT]) instead of the primary for every node', helpValue: 'HOST[:PORT]'}),
  }

  async run(): Promise<BansResult> {
    const target = this.flags.node ? this.parseTarget(this.flags.node, '--node') : this.primaryTarget()
    const result = await askBans(await this.connect(target), 'bans', {}, Boolean(this.flags.node))
    const count = result.nodes.reduce((n, x) => n + x.bans.length, 0)
    const failed = result.nodes.filter((n) => n.error)
    if (count === 0 && failed.length === 0) this.say(`No bans on ${result.nodes.length} node(s)`)
    else this.say(bansTable(result))
    if (failed.length > 0) process.stderr.write(`Warning: ${failed.length} node(s) could not be asked; see the ERROR column\n`)
    return result
  }
}
