import {Args} from '@oclif/core'
import {BaseCommand} from '../../cli/base-command.js'
import {Contexts} from '../../cli/contexts.js'

export default class ContextUse extends BaseCommand<typeof ContextUse> {
  static override summary = 'Make a saved context the current one'
  static override examples = ['<%= config.bin %> <%= command.id %> prod']
  static override args = {name: Args.string({ignoreStdin: true, description: 'context name', required: true})}

  async run(): Promise<{current: string}> {
    new Contexts(this.cliDir).use(this.args.name)
    this.say(`Now using context "${this.args.name}"`)
    return {current: this.args.name}
  }
}
