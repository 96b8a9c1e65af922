import {BaseCommand} from '../../cli/base-command.js'
import {Contexts, type Context} from '../../cli/contexts.js'
import {renderTable} from '../../cli/ui/table.js'

export default class ContextList extends BaseCommand<typeof ContextList> {
  static override summary = 'List saved contexts'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run(): Promise<{contexts: ({name: string; current: boolean} & Context)[]}> {
    const contexts = new Contexts(this.cliDir).list().map(({name, current, context}) => ({name, current, ...context}))
    if (contexts.length === 0) this.say('No contexts yet; add one with `cluster context add NAME --primary HOST`')
    else this.say(renderTable(['', 'NAME', 'PRIMARY', 'USER', 'KEY'], contexts.map((c) => [c.current ? '*' : '', c.name, c.primary, c.user ?? 'admin', c.keyFile ?? null])))
    return {contexts}
  }
}
