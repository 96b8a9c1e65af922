import {Args, Flags} from '@oclif/core'
import {cancelled} from '../cli/base-command.js'
import {ClusterCommand} from '../cli/cluster-command.js'
import {Contexts} from '../cli/contexts.js'
import {confirm} from '../cli/ui/prompt.js'
import {formatHostPort, type PromoteResult} from '../protocol/index.js'

export default class Promote extends ClusterCommand<typeof Promote> {
  static override summary = 'Make a secondary the primary (epoch + 1) when the old primary is lost'
  static override description = `Connects to the secondary itself (not the old primary). It takes the next epoch only once a majority of the members (itself included) accepted it; each member promises an epoch to one candidate only, so of two promotes at once exactly one wins and the other exits 1 naming the winner. The new primary starts from the newest configuration the majority holds, so no acknowledged change is lost, and pushes it to every server; the old primary, when it comes back, sees the higher epoch, stops accepting changes and becomes a secondary (revisions only it had are kept in its config/diverged/). Afterwards it offers to point the saved context at the new primary (--yes: does it).

--force takes the epoch without a majority, for when most members are lost for good: changes only the lost members had are discarded, and two primaries can exist if they come back. Use it only after checking they are gone.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.12 --yes',
    'CLUSTER_PASSWORD=s3cret <%= config.bin %> <%= command.id %> 127.0.0.3 --yes --json',
    '<%= config.bin %> <%= command.id %> 10.0.0.12 --force --yes   # a majority is lost for good',
  ]
  static override flags = {
    force: Flags.boolean({description: 'take the new epoch without a majority of the members (they are lost for good)', default: false}),
  }
  static override args = {host: Args.string({ignoreStdin: true, description: 'the secondary to promote, HOST[:PORT]', required: true})}

  async run(): Promise<PromoteResult> {
    const target = this.parseTarget(this.args.host, 'HOST')
    const at = formatHostPort(target.host, target.port)
    const force = this.flags.force
    if (force) process.stderr.write(`${this.paintErr.bad('WARNING:')} --force promotes ${at} without a majority: changes only the unreachable members hold are discarded, and if they return while another primary runs, the cluster has two primaries. Use it only when they are lost for good.\n`)
    if (this.interactive && !(await confirm(`Make ${at} the primary? Do this only when the old primary is lost.`))) throw cancelled()
    const client = await this.connect(target)
    const result = await this.runAction<PromoteResult>(client, 'promote', force ? {force: true} : {})
    this.say(`${at} is now the primary (epoch ${result.epoch}, revision ${result.revision}).`)
    await this.offerContextUpdate(at)
    return result
  }

  /** The saved context still names the old primary: update it with --yes, ask on a terminal, else say how. */
  private async offerContextUpdate(at: string): Promise<void> {
    const selected = this.context()
    if (!selected || selected.context.primary === at) return this.say(`Use --primary ${at} from now on.`)
    const {name} = selected
    const yes = (this.flags as {yes?: boolean}).yes
    if (yes || (this.interactive && (await confirm(`Point context "${name}" (now ${selected.context.primary}) at ${at}?`)))) {
      new Contexts(this.cliDir).update(name, {primary: at})
      this.say(`Context "${name}" now points at ${at}`)
    } else this.say(`Context "${name}" still points at ${selected.context.primary}: \`${this.config.bin} context add ${name} --primary ${at} --force\` (or run promote with --yes)`)
  }
}
