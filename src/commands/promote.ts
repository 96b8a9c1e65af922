import {Args} from '@oclif/core'
import {cancelled, usageError} from '../cli/base-command.js'
import {ClusterCommand} from '../cli/cluster-command.js'
import {Contexts} from '../cli/contexts.js'
import {confirm} from '../cli/ui/prompt.js'
import {formatHostPort, type PromoteResult} from '../protocol/index.js'

export default class Promote extends ClusterCommand<typeof Promote> {
  static override summary = 'Make a secondary the primary (epoch + 1) when the old primary is lost'
  static override description = 'Connects to the secondary itself (not the old primary). The new primary pushes its configuration with the higher epoch to every server; the old primary, when it comes back, sees the higher epoch, stops pushing and becomes a secondary. Afterwards it offers to point the saved context at the new primary (--yes: does it).'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.12 --yes',
    'CLUSTER_PASSWORD=s3cret <%= config.bin %> <%= command.id %> 127.0.0.3 --yes --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'the secondary to promote, HOST[:PORT]', required: true})}

  async run(): Promise<PromoteResult> {
    const target = this.parseTarget(this.args.host, 'HOST')
    const at = formatHostPort(target.host, target.port)
    if (this.interactive && !(await confirm(`Make ${at} the primary? Do this only when the old primary is lost.`))) throw cancelled()
    const client = await this.connect(target)
    const result = await this.runAction<PromoteResult>(client, 'promote', {})
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
