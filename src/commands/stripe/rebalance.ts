import {StripeCommand} from '../../cli/stripe-command.js'
import {formatSize} from '../../cli/stripe-edit.js'
import {renderTable} from '../../cli/ui/table.js'
import type {StripeRebalanceResult} from '../../protocol/index.js'

export default class StripeRebalance extends StripeCommand<typeof StripeRebalance> {
  static override summary = 'Move files between storage nodes so that used/capacity evens out (after adding a node)'
  static override description = 'The gateway moves files from the fullest nodes (used bytes over capacity) to the emptiest ones that are up, as long as each move evens them out: copy node to node, check the copy against the catalogue\'s SHA-256, switch the catalogue to the new copy, then drop the old one. Two copies of a file never share a node, the free-space floor holds, and draining or down nodes are left alone. Every file stays readable throughout; an interrupted run (even a kill -9 of the gateway) leaves at most extra copies, which the gateway drops, and a re-run continues from where the catalogue is. Progress goes to stderr.'
  static override examples = [
    '<%= config.bin %> stripe add-node 10.0.0.14 && <%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq .moved',
  ]

  async run(): Promise<StripeRebalanceResult> {
    const {client} = await this.gatewayClient()
    const r = await this.runAction<StripeRebalanceResult>(client, 'stripe-rebalance', null)
    const pct = (x: number) => `${(x * 100).toFixed(2)} %`
    this.say(`${this.paint.ok('Rebalanced')}: ${r.moved} files moved (${formatSize(r.bytes)}), spread of used/capacity ${pct(r.spreadBefore)} → ${pct(r.spreadAfter)}${r.failed ? this.paint.warn(`, ${r.failed} moves failed (those files stayed; run it again)`) : ''}`)
    this.say(renderTable(['HOST', 'PORT', 'CAPACITY', 'USED', 'USED %'], r.nodes.map((n) => [n.host, n.port, formatSize(n.capacityBytes), formatSize(n.usedBytes), n.capacityBytes ? pct(n.usedBytes / n.capacityBytes) : '-'])))
    return r
  }
}
