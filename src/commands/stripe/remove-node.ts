import {Args, Flags} from '@oclif/core'
import {cancelled} from '../../cli/base-command.js'
import {readConfig} from '../../cli/config-edit.js'
import {StripeCommand} from '../../cli/stripe-command.js'
import {formatSize, stripeNodeAt} from '../../cli/stripe-edit.js'
import {removeStripeNode} from '../../cli/stripe-removal.js'
import {confirm} from '../../cli/ui/prompt.js'
import {formatHostPort, type StripeRemoveNodeResult} from '../../protocol/index.js'

export default class StripeRemoveNode extends StripeCommand<typeof StripeRemoveNode> {
  static override summary = 'Move a storage node\'s files to the other nodes, then take it out of the striped cluster'
  static override description = `First the gateway checks that the other nodes can hold the node's files (replicas copies of each on distinct nodes, above the free-space floor) and that enough nodes remain; if not, it refuses and nothing changes (exit 1). Then the node is marked draining (\`stripe status\` shows it; it takes no new files), every file with a copy on it is copied node to node until it has stripe.replicas copies on the other nodes, each copy checked against the catalogue's SHA-256 before the catalogue names it, and the node's copy is dropped. Only then does the node leave the configuration. Progress goes to stderr. An interrupted run leaves the node draining and a re-run continues; \`stripe add-node\` takes it back instead. Removing a node that is not a storage node does nothing (exit 0).

--force is for a dead node: it is not contacted, its files are copied from their other copies, and files that had no other copy are reported as lost (exit 1); their entries stay, so adding the node back later (\`stripe add-node\`) recovers them if its disk survived.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.13 --yes',
    '<%= config.bin %> <%= command.id %> 10.0.0.13 --force --yes   # the node is dead',
    '<%= config.bin %> <%= command.id %> 127.0.0.4:14983 --yes --json | jq .drain.copies',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'the storage node\'s admin endpoint, HOST[:PORT]', required: true})}
  static override flags = {
    force: Flags.boolean({description: 'the node is dead: do not contact it; copy its files from their other copies and report those lost', default: false}),
  }

  async run(): Promise<StripeRemoveNodeResult> {
    const target = this.parseTarget(this.args.host, 'HOST')
    const at = formatHostPort(target.host, target.port)
    const primary = this.primaryTarget()
    const client = await this.connect(primary)
    const config = await readConfig(client)
    const node = stripeNodeAt(config, target)
    if (!node) {
      this.say(`${at} is not a storage node of the striped cluster: nothing to do.`)
      return {node: at, removed: false, revision: config.revision, drain: null}
    }
    const what = this.flags.force ? `Remove ${at} from the striped cluster without contacting it (its files are copied from their other copies)?` : `Move every file off ${at} and remove it from the striped cluster?`
    if (this.interactive && !(await confirm(what))) throw cancelled()
    const {client: gateway} = await this.gatewayFrom(client, primary)
    const r = await removeStripeNode(client, gateway, node, this.flags.force, {
      run: (c, command, args) => this.runAction(c, command, args),
      note: (text) => {
        if (!this.jsonEnabled() && !this.quiet) process.stderr.write(`${text}\n`)
      },
    })
    const d = r.drain!
    this.say(`${this.paint.ok('Removed')} storage node ${this.paint.bold(at)}: ${d.copies} copies made on the other nodes (${formatSize(d.bytes)}), ${d.dropped} pieces dropped${this.flags.force ? ' (not contacted: its disk keeps what it had)' : ''}, revision ${r.revision}`)
    return r
  }
}
