import {BaseCommand} from '../../cli/base-command.js'
import {Contexts, type Context} from '../../cli/contexts.js'
import {OperationError} from '../../protocol/index.js'

export default class ContextCurrent extends BaseCommand<typeof ContextCurrent> {
  static override summary = 'Show the current context'
  static override description = 'Prints the name of the current context and where it points. Exit 1 when none is selected. CLUSTER_PRIMARY and --primary override a context; --context NAME picks another for one command.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json | jq -r .primary']

  async run(): Promise<{name: string} & Context> {
    const current = new Contexts(this.cliDir).current()
    if (!current) throw new OperationError('refused', 'no context is selected', 'select one with `cluster context use NAME` (see `cluster context list`)')
    this.say(`${current.name} → ${current.context.primary} as ${current.context.user ?? 'admin'}${current.context.keyFile ? ` (key ${current.context.keyFile})` : ''}`)
    if (process.env.CLUSTER_PRIMARY) process.stderr.write(`Note: CLUSTER_PRIMARY=${process.env.CLUSTER_PRIMARY} overrides it\n`)
    return {name: current.name, ...current.context}
  }
}
