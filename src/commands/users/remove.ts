import {Args} from '@oclif/core'
import {cancelled, usageError} from '../../cli/base-command.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {removeUserOnPrimary} from '../../cli/remote-user-edit.js'
import {confirm} from '../../cli/ui/prompt.js'

export default class UsersRemove extends ClusterCommand<typeof UsersRemove> {
  static override summary = 'Remove a file-service user (on the primary, so on every node)'
  static override description = 'The user can no longer log in on any node; open sessions end when the nodes reload. The files in its home are left where they are. Asks for confirmation on a terminal unless --yes.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> alice',
    '<%= config.bin %> <%= command.id %> alice --yes --json',
  ]
  static override args = {name: Args.string({required: true, ignoreStdin: true, description: 'user name'})}

  async run(): Promise<{revision: number; removed: string}> {
    const {name} = this.args
    const client = await this.connect(this.primaryTarget())
    const config = await removeUserOnPrimary(client, name, async () => {
      if (this.interactive && !(await confirm(`Remove user ${name} from every node?`))) throw cancelled()
    })
    this.say(`${this.paint.ok('Removed')} user ${name} at revision ${config.revision}; its files were left in place`)
    return {revision: config.revision, removed: name}
  }
}
