import {Args} from '@oclif/core'
import {usageError} from '../cli/base-command.js'
import {ClusterCommand} from '../cli/cluster-command.js'
import {confirm} from '../cli/ui/prompt.js'
import {formatHostPort, type PromoteResult} from '../protocol/index.js'

export default class Promote extends ClusterCommand<typeof Promote> {
  static override summary = 'Make a secondary the primary (epoch + 1) when the old primary is lost'
  static override description = 'Connects to the secondary itself (not the old primary). The new primary pushes its configuration with the higher epoch to every server; the old primary, when it comes back, sees the higher epoch, stops pushing and becomes a secondary. Point your context at the new primary afterwards.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.12 --yes',
    'CLUSTER_PASSWORD=s3cret <%= config.bin %> <%= command.id %> 127.0.0.3 --yes --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'the secondary to promote, HOST[:PORT]', required: true})}

  async run(): Promise<PromoteResult> {
    const target = this.parseTarget(this.args.host, 'HOST')
    const at = formatHostPort(target.host, target.port)
    if (this.interactive && !(await confirm(`Make ${at} the primary? Do this only when the old primary is lost.`))) throw usageError('cancelled')
    const client = await this.connect(target)
    const result = await this.runAction<PromoteResult>(client, 'promote', {})
    this.say(`${at} is now the primary (epoch ${result.epoch}, revision ${result.revision}). Use --primary ${result.primary} from now on.`)
    return result
  }
}
