import {StripeCommand} from '../../cli/stripe-command.js'
import type {StripeRescanResult} from '../../protocol/index.js'

export default class StripeRescan extends StripeCommand<typeof StripeRescan> {
  static override summary = 'Rebuild the gateway\'s catalogue from the storage nodes\' inventories'
  static override description = 'The nodes are the truth: the gateway reads every piece each node that is up reports (path, size, mtime, owner, SHA-256, generation), records the files, keeps the newest version when two disagree, and forgets copies a node no longer has. Files whose only copies are on a node that is down keep their entries. The gateway does this by itself when it starts with an empty catalogue; progress goes to stderr. Re-running it is harmless.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run(): Promise<StripeRescanResult> {
    const {client} = await this.gatewayClient()
    const r = await this.runAction<StripeRescanResult>(client, 'stripe-rescan', null)
    this.say(`${this.paint.ok('Rescanned')} ${r.nodes.length} node(s): ${r.files} files in the catalogue, ${r.conflicts} conflicting copies, ${r.droppedEntries} entries dropped`)
    if (r.skippedNodes.length) this.say(this.paint.warn(`Not read (down): ${r.skippedNodes.join(', ')}; their files keep their entries.`))
    return r
  }
}
