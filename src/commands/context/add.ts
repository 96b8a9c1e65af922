import {Args, Flags} from '@oclif/core'
import {BaseCommand, usageError} from '../../cli/base-command.js'
import {Contexts, type Context} from '../../cli/contexts.js'
import {formatHostPort, parseHostPort} from '../../protocol/index.js'

export default class ContextAdd extends BaseCommand<typeof ContextAdd> {
  static override summary = 'Save a connection to a cluster\'s primary'
  static override description = 'Saves NAME → primary address, admin user and optionally a private key file (used instead of a password). The first context added becomes the current one. An existing name is refused unless --force. Stored under CLUSTER_CONFIG_DIR (default: the user\'s config directory).'
  static override examples = [
    '<%= config.bin %> <%= command.id %> prod --primary 10.0.0.11 --user admin',
    '<%= config.bin %> <%= command.id %> lab --primary 127.0.0.2:14983 --key ~/.ssh/ftpcluster_admin',
    '<%= config.bin %> <%= command.id %> prod --primary 10.0.0.12 --force   # after promote',
  ]
  static override args = {name: Args.string({ignoreStdin: true, description: 'context name', required: true})}
  static override flags = {
    primary: Flags.string({description: 'primary admin endpoint HOST[:PORT]', required: true, helpValue: 'HOST[:PORT]'}),
    user: Flags.string({description: 'admin user', default: 'admin'}),
    key: Flags.string({description: 'private key file for the admin user (instead of a password)'}),
    force: Flags.boolean({description: 'replace a context of the same name', default: false}),
  }

  async run(): Promise<{name: string} & Context> {
    let target
    try {
      target = parseHostPort(this.flags.primary)
    } catch (error) {
      throw usageError(`--primary: ${(error as Error).message}`)
    }
    const context: Context = {primary: formatHostPort(target.host, target.port), user: this.flags.user}
    if (this.flags.key) {
      const path = await import('node:path')
      context.keyFile = path.resolve(this.flags.key)
    }
    new Contexts(this.cliDir).add(this.args.name, context, this.flags.force)
    this.say(`Context "${this.args.name}" → ${context.primary} as ${context.user}`)
    return {name: this.args.name, ...context}
  }
}
