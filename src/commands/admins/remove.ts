import {Args} from '@oclif/core'
import {cancelled} from '../../cli/base-command.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig, readConfig} from '../../cli/config-edit.js'
import {findAdmin, removeAdmin} from '../../cli/admin-edit.js'
import {confirm} from '../../cli/ui/prompt.js'

export default class AdminsRemove extends ClusterCommand<typeof AdminsRemove> {
  static override summary = 'Remove an admin user (never the last one)'
  static override description = 'The admin can no longer log in to any node\'s admin endpoint. Removing the last admin is refused: nobody could administer the cluster. Asks for confirmation on a terminal unless --yes.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> ops',
    '<%= config.bin %> <%= command.id %> ops --yes --json',
  ]
  static override args = {name: Args.string({required: true, ignoreStdin: true, description: 'admin user name'})}

  async run(): Promise<{revision: number; removed: string}> {
    const {name} = this.args
    const client = await this.connect(this.primaryTarget())
    const current = await readConfig(client)
    findAdmin(current, name)
    removeAdmin(structuredClone(current), name) // refuse the last admin before asking
    if (this.interactive && !(await confirm(`Remove admin ${name} from every node?`))) throw cancelled()
    const config = await editConfig(client, (c) => void removeAdmin(c, name), `admins remove ${name}`)
    this.say(`${this.paint.ok('Removed')} admin ${name} at revision ${config.revision}`)
    return {revision: config.revision, removed: name}
  }
}
