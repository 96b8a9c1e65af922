import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig, readConfig} from '../../cli/config-edit.js'
import {connectedMember, enableStripe, findMember} from '../../cli/stripe-edit.js'
import {formatHostPort} from '../../protocol/index.js'

export default class StripeEnable extends ClusterCommand<typeof StripeEnable> {
  static override summary = 'Make a member the gateway of the striped cluster (one FTP server over the storage nodes\' disks)'
  static override description = `HOST (the primary or a registered server) serves the virtual tree on the cluster-wide stripe.port (2100, explicit FTPS included) and stripe.sftpPort (2200). The gateway keeps only the catalogue; the storage nodes (\`cluster stripe add-node\`) hold the data. --replicas sets how many copies of every file are kept on distinct nodes (1 by default; 2 is recommended): an upload is acknowledged only when every copy is durable. Enabling another host moves the gateway there; it rebuilds its catalogue from the nodes.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.11 --replicas 2',
    '<%= config.bin %> <%= command.id %> 127.0.0.2:14983 --port 2100 --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'the member\'s admin endpoint, HOST[:PORT]', required: true})}
  static override flags = {
    replicas: Flags.integer({description: 'copies of every file, on distinct nodes (2 recommended) [default: 1, or the current value]', min: 1, max: 8}),
    port: Flags.integer({description: 'the gateway\'s FTP port, cluster-wide [default: 2100, or the current value]', min: 1, max: 65535}),
  }

  async run(): Promise<{revision: number; gateway: string; replicas: number; port: number; sftpPort: number}> {
    const target = this.parseTarget(this.args.host, 'HOST')
    const primary = this.primaryTarget()
    const client = await this.connect(primary)
    const self = await connectedMember(client, primary)
    const gateway = findMember(await readConfig(client), self, target)
    const config = await editConfig(client, (c) => enableStripe(c, findMember(c, self, target), {replicas: this.flags.replicas, port: this.flags.port}), `stripe enable ${formatHostPort(target.host, target.port)}`)
    const s = config.stripe
    const ftp = formatHostPort(gateway.host, s.port)
    this.say(`${this.paint.ok('Enabled')} the striped cluster: gateway ftp://${ftp} (SFTP port ${s.sftpPort}), ${s.replicas} ${s.replicas === 1 ? 'copy' : 'copies'} of every file, ${s.nodes.length} storage node(s), revision ${config.revision}`)
    if (s.nodes.length === 0) this.say('Add storage nodes with `cluster stripe add-node HOST`.')
    return {revision: config.revision, gateway: ftp, replicas: s.replicas, port: s.port, sftpPort: s.sftpPort}
  }
}
