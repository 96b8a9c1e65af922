import {Args} from '@oclif/core'
import {BaseCommand} from '../../cli/base-command.js'
import {Contexts} from '../../cli/contexts.js'

export default class ContextRemove extends BaseCommand<typeof ContextRemove> {
  static override summary = 'Remove a saved context'
  static override examples = ['<%= config.bin %> <%= command.id %> lab']
  static override args = {name: Args.string({ignoreStdin: true, description: 'context name', required: true})}

  async run(): Promise<{removed: string}> {
    new Contexts(this.cliDir).remove(this.args.name)
    this.say(`Removed context "${this.args.name}"`)
    return {removed: this.args.name}
  }
}
