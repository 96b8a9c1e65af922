import {Args, Flags} from '@oclif/core'
import {cancelled, usageError} from '../../cli/base-command.js'
import {askBans, bansTable} from '../../cli/bans.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {confirm} from '../../cli/ui/prompt.js'
import {OperationError, type BansResult} from '../../protocol/index.js'

export default class BansClear extends ClusterCommand<typeof BansClear> {
  static override summary = 'Lift a ban (or every ban with --all), on every node or one'
  static override description = `Lifts the ban of ADDR and forgets its failed logins, so it may log in again at once (a later ban still grows with the count of past bans). By default on every member, through the primary; --node lifts it on that node only, connecting to it directly from this machine — for a candidate that banned the primary before it was registered. --all lifts every ban (asks for confirmation on a terminal unless --yes). Clearing an address that is not banned is not an error.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7',
    '<%= config.bin %> <%= command.id %> 10.0.0.11 --node 10.0.0.12   # the primary, banned by a candidate',
    '<%= config.bin %> <%= command.id %> --all --yes --json',
  ]
  static override args = {address: Args.string({ignoreStdin: true, description: 'the banned address (as `cluster bans list` shows it)'})}
  static override flags = {
    all: Flags.boolean({description: 'lift every ban', default: false}),
    node: Flags.string({description: 'lift it on this node only, connecting to it directly (HOST[:PORT])', helpValue: 'HOST[:PORT]'}),
  }

  async run(): Promise<BansResult> {
    const {address} = this.args
    if (!address && !this.flags.all) throw usageError('give the banned ADDR, or --all', 'list the bans with `cluster bans list`')
    if (address && this.flags.all) throw usageError('give ADDR or --all, not both')
    const target = this.flags.node ? this.parseTarget(this.flags.node, '--node') : this.primaryTarget()
    if (this.flags.all && this.interactive && !(await confirm(`Lift every ban on ${this.flags.node ?? 'every node'}?`))) throw cancelled()
    const result = await askBans(await this.connect(target), 'bans-clear', address ? {address} : {all: true}, Boolean(this.flags.node))
    const lifted = result.nodes.flatMap((n) => (n.cleared ?? []).map((a) => `${a} on ${n.host}:${n.port}`))
    const failed = result.nodes.filter((n) => n.error)
    this.say(lifted.length > 0 ? `${this.paint.ok('Lifted')} ${lifted.join(', ')}` : `Nothing to lift: ${address ?? 'no address'} is not banned on ${result.nodes.length} node(s)`)
    if (result.nodes.some((n) => n.bans.length > 0)) this.say(`Still banned:\n${bansTable({nodes: result.nodes.filter((n) => n.bans.length > 0)})}`)
    if (failed.length > 0) {
      throw Object.assign(new OperationError('unreachable', `${failed.length} node(s) could not be asked: ${failed.map((n) => n.error).join('; ')}`, 'lift it there with `cluster bans clear ADDR --node HOST`'), {printed: this.printResult(result)})
    }
    return result
  }

  /** With --json the partial result is still the one document on stdout. */
  private printResult(result: BansResult): boolean {
    if (this.jsonEnabled()) this.logJson(result)
    return this.jsonEnabled()
  }
}
