import {Args} from '@oclif/core'
import {BaseCommand} from '../../cli/base-command.js'
import {Contexts} from '../../cli/contexts.js'

export default class ContextRename extends BaseCommand<typeof ContextRename> {
  static override summary = 'Rename a saved context'
  static override description = 'Keeps everything else; the current context stays current under its new name. Refused when NEW exists.'
  static override examples = ['<%= config.bin %> <%= command.id %> lab staging']
  static override args = {
    old: Args.string({ignoreStdin: true, description: 'current name', required: true}),
    new: Args.string({ignoreStdin: true, description: 'new name', required: true}),
  }

  async run(): Promise<{from: string; to: string}> {
    new Contexts(this.cliDir).rename(this.args.old, this.args.new)
    this.say(`Renamed context "${this.args.old}" to "${this.args.new}"`)
    return {from: this.args.old, to: this.args.new}
  }
}
