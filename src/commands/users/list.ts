import {ClusterCommand} from '../../cli/cluster-command.js'
import {readConfig} from '../../cli/config-edit.js'
import {renderTable} from '../../cli/ui/table.js'
import {userSummary, type UserSummary} from '../../cli/user-edit.js'

export default class UsersList extends ClusterCommand<typeof UsersList> {
  static override summary = 'List the file-service users'
  static override description = 'Reads the users from the primary\'s configuration: name, home, permissions, public keys, whether a password is set, disabled. Password hashes are never shown.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq -r \'.users[] | select(.hasPassword | not) | .name\'',
  ]

  async run(): Promise<{revision: number; users: UserSummary[]}> {
    const config = await readConfig(await this.connect(this.primaryTarget()))
    const users = config.users.map(userSummary)
    if (users.length === 0) this.say('No users yet. Add one with `cluster users add NAME`.')
    else {
      this.say(renderTable(['NAME', 'HOME', 'PERMISSIONS', 'PASSWORD', 'KEYS', 'DISABLED'], users.map((u) => [
        u.name, u.home, u.permissions.join(',') || '(none)', u.hasPassword ? 'yes' : 'no', u.publicKeys.length, u.disabled ? this.paint.warn('yes') : 'no',
      ])))
    }
    return {revision: config.revision, users}
  }
}
