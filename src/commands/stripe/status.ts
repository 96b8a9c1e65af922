import {StripeCommand} from '../../cli/stripe-command.js'
import {formatSize} from '../../cli/stripe-edit.js'
import {renderTable} from '../../cli/ui/table.js'
import type {StripeStatus as Status} from '../../protocol/index.js'

export default class StripeStatus extends StripeCommand<typeof StripeStatus> {
  static override summary = 'Show the striped cluster: gateway, storage nodes with capacity, use and files, totals'
  static override description = 'Asks the gateway (found through the primary\'s configuration), which holds the catalogue. Each node\'s state is up, down or draining; capacity is the smaller of its cap and its disk\'s free space plus what the stripe uses. Totals count the nodes that are up (draining ones included); totals.files counts distinct files. underReplicated is the number of files with fewer copies on nodes that are up than --replicas asks for.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq .totals.capacityBytes',
  ]

  async run(): Promise<Status> {
    const {client} = await this.gatewayClient()
    const s = await client.exec<Status>('stripe-status', null)
    const p = this.paint
    this.say(`Gateway ftp://${s.gateway}, ${s.replicas} ${s.replicas === 1 ? 'copy' : 'copies'} of every file`)
    this.say(renderTable(['HOST', 'PORT', 'STATE', 'CAPACITY', 'USED', 'FREE', 'FILES'], [
      ...s.nodes.map((n) => [n.host, n.port, p.state(n.state), formatSize(n.capacityBytes), formatSize(n.usedBytes), formatSize(n.freeBytes), n.files]),
      ['total (up)', '', '', formatSize(s.totals.capacityBytes), formatSize(s.totals.usedBytes), formatSize(s.totals.freeBytes), s.totals.files],
    ]))
    if (s.underReplicated > 0) this.say(p.warn(`${s.underReplicated} file(s) have fewer than ${s.replicas} live copies: re-replication starts once a node has been down for stripe.reReplicateAfterSeconds`))
    return s
  }
}
