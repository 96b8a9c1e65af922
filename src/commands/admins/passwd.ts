import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig, readConfig} from '../../cli/config-edit.js'
import {findAdmin} from '../../cli/admin-edit.js'
import {userPasswordHash} from '../../cli/user-password.js'

export default class AdminsPasswd extends ClusterCommand<typeof AdminsPasswd> {
  static override summary = 'Set an admin user\'s password (on the primary, so on every node)'
  static override description = 'The password comes from --password, CLUSTER_ADMIN_PASSWORD (preferred), or a prompt on a terminal (typed twice); it needs passwordPolicy.minLength characters (default 12) and is hashed (scrypt) here. Sessions already open stay open. Run with --primary HOST on a standalone node to set its own.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> admin',
    'CLUSTER_ADMIN_PASSWORD="$NEW" <%= config.bin %> <%= command.id %> admin --json',
  ]
  static override args = {name: Args.string({required: true, ignoreStdin: true, description: 'admin user name'})}
  static override flags = {
    password: Flags.string({description: 'the new password (prefer CLUSTER_ADMIN_PASSWORD)'}),
  }

  async run(): Promise<{revision: number; admin: string}> {
    const {name} = this.args
    const client = await this.connect(this.primaryTarget())
    const current = await readConfig(client)
    findAdmin(current, name)
    const hash = await userPasswordHash({flag: this.flags.password, interactive: this.interactive, required: true, name, minLength: current.passwordPolicy?.minLength, env: 'CLUSTER_ADMIN_PASSWORD'})
    const config = await editConfig(client, (c) => void (findAdmin(c, name).passwordHash = hash), `admins passwd ${name}`)
    this.say(`${this.paint.ok('Changed')} the password of admin ${name} at revision ${config.revision}`)
    return {revision: config.revision, admin: name}
  }
}
