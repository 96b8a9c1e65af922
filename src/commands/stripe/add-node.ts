import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig} from '../../cli/config-edit.js'
import {addStripeNode, connectedMember, findMember, formatSize, parseSize} from '../../cli/stripe-edit.js'
import {formatHostPort} from '../../protocol/index.js'

export default class StripeAddNode extends ClusterCommand<typeof StripeAddNode> {
  static override summary = 'Make a member (the primary included) a storage node of the striped cluster'
  static override description = `The node keeps its pieces under its stripe directory (node.json stripeDir, \`node init --stripe-dir\`; default STORAGE/.stripe). Its capacity is the smaller of --capacity and the disk's free space plus what the stripe already uses there, so two nodes sharing a disk do not both count it. Placement sends new files to the nodes with the most free space relative to their capacity. Re-running it on a storage node changes its cap, and takes back a node that \`stripe remove-node\` was draining (it takes new files again).`
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.12',
    '<%= config.bin %> <%= command.id %> 10.0.0.13 --capacity 500G',
    '<%= config.bin %> <%= command.id %> 127.0.0.3:14983 --capacity 10737418240 --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'the member\'s admin endpoint, HOST[:PORT]', required: true})}
  static override flags = {
    capacity: Flags.string({description: 'cap of the space the stripe may use there, BYTES or 10G, 2T [default: the disk\'s free space + what the stripe uses]', helpValue: 'BYTES|10G'}),
  }

  async run(): Promise<{revision: number; added: boolean; node: {host: string; port: number; capacityBytes: number | null}}> {
    const target = this.parseTarget(this.args.host, 'HOST')
    const cap = this.flags.capacity === undefined ? null : parseSize(this.flags.capacity)
    const primary = this.primaryTarget()
    const client = await this.connect(primary)
    const self = await connectedMember(client, primary)
    let added = false
    const config = await editConfig(client, (c) => void ({added} = addStripeNode(c, findMember(c, self, target), cap)), `stripe add-node ${formatHostPort(target.host, target.port)}${cap === null ? '' : ` --capacity ${cap}`}`)
    const at = this.paint.bold(formatHostPort(target.host, target.port))
    const capText = cap === null ? 'its disk\'s free space' : `at most ${formatSize(cap)}`
    this.say(`${added ? this.paint.ok('Added') : 'Updated'} storage node ${at} (capacity: ${capText}), ${config.stripe.nodes.length} node(s) in the stripe, revision ${config.revision}`)
    if (!config.stripe.enabled) this.say('The striped cluster is not enabled yet: `cluster stripe enable HOST` names its gateway.')
    return {revision: config.revision, added, node: {host: target.host, port: target.port, capacityBytes: cap}}
  }
}
