import {ClusterCommand} from '../../cli/cluster-command.js'
import {readConfig} from '../../cli/config-edit.js'
import {adminSummary, type AdminSummary} from '../../cli/admin-edit.js'
import {renderTable} from '../../cli/ui/table.js'

export default class AdminsList extends ClusterCommand<typeof AdminsList> {
  static override summary = 'List the admin users of the admin endpoint'
  static override description = 'Reads them from the primary\'s configuration (the same on every node): name, whether a password is set, public keys. Hashes are never shown.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq -r \'.admins[].name\'',
  ]

  async run(): Promise<{revision: number; admins: AdminSummary[]}> {
    const config = await readConfig(await this.connect(this.primaryTarget()))
    const admins = config.adminUsers.map(adminSummary)
    this.say(renderTable(['NAME', 'PASSWORD', 'KEYS'], admins.map((a) => [a.name, a.hasPassword ? 'yes' : 'no', a.publicKeys.map((k) => `${k.type} ${k.fingerprint}`).join('\n') || null])))
    return {revision: config.revision, admins}
  }
}
