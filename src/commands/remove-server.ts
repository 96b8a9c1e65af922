import {Args} from '@oclif/core'
import {cancelled, usageError} from '../cli/base-command.js'
import {ClusterCommand} from '../cli/cluster-command.js'
import {confirm} from '../cli/ui/prompt.js'
import {formatHostPort, type RemoveServerResult} from '../protocol/index.js'

export default class RemoveServer extends ClusterCommand<typeof RemoveServer> {
  static override summary = 'Unregister a secondary (it becomes standalone, keeping its configuration)'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.12 --yes',
    '<%= config.bin %> <%= command.id %> 127.0.0.4:14983 --yes --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'secondary HOST[:PORT]', required: true})}

  async run(): Promise<RemoveServerResult> {
    const target = this.parseTarget(this.args.host, 'HOST')
    const at = formatHostPort(target.host, target.port)
    if (this.interactive && !(await confirm(`Remove ${at} from the cluster?`))) throw cancelled()
    const client = await this.connect(this.primaryTarget())
    const result = await this.runAction<RemoveServerResult>(client, 'remove-server', target)
    this.say(`Removed ${at} (revision ${result.revision})`)
    if (result.warning) this.warn(result.warning)
    return result
  }
}
