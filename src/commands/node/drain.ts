import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {formatHostPort, type DrainResult} from '../../protocol/index.js'

export default class NodeDrain extends ClusterCommand<typeof NodeDrain> {
  static override summary = 'Put a node in maintenance: no new sessions, transfers in progress finish'
  static override description = 'Connects to the node\'s own admin endpoint. While it drains, the node refuses new SFTP and FTP sessions, lets the sessions and transfers in progress finish, and its health endpoint (/healthz) answers 503, so a load balancer stops sending it clients. `--undo` takes it back into service. Draining lasts until undone or until the node restarts.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.12',
    'CLUSTER_PASSWORD=s3cret <%= config.bin %> <%= command.id %> 127.0.0.3:14983 --undo --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'the node\'s admin endpoint, HOST[:PORT]', required: true})}
  static override flags = {undo: Flags.boolean({description: 'take the node out of maintenance: accept new sessions again', default: false})}

  async run(): Promise<DrainResult> {
    const target = this.parseTarget(this.args.host, 'HOST')
    const client = await this.connect(target)
    const result = await client.exec<DrainResult>('drain', {enable: !this.flags.undo})
    const at = this.paint.bold(formatHostPort(target.host, target.port))
    const already = result.changed ? '' : ' (it already was)'
    if (result.draining) this.say(`${at} is draining${already}: new sessions are refused, /healthz answers 503; transfers in progress finish. Undo with --undo.`)
    else this.say(`${at} is back in service${already}: it accepts new sessions and /healthz answers 200 when its services are up.`)
    return result
  }
}
