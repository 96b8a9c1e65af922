import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {setPasswordOnPrimary} from '../../cli/remote-user-edit.js'
import {userPasswordHash} from '../../cli/user-password.js'

export default class UsersPasswd extends ClusterCommand<typeof UsersPasswd> {
  static override summary = 'Set a file-service user\'s password (on the primary, so on every node)'
  static override description = 'The password comes from --password, CLUSTER_USER_PASSWORD (preferred: flags show in `ps`), or a prompt on a terminal (typed twice). It is hashed (scrypt) here; only the hash is sent. Sets a password for a key-only user too.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> alice',
    'CLUSTER_USER_PASSWORD="$NEW" <%= config.bin %> <%= command.id %> alice --json',
  ]
  static override args = {name: Args.string({required: true, ignoreStdin: true, description: 'user name'})}
  static override flags = {
    password: Flags.string({description: 'the new password (prefer CLUSTER_USER_PASSWORD)'}),
  }

  async run(): Promise<{revision: number; user: string}> {
    const {name} = this.args
    const client = await this.connect(this.primaryTarget())
    const config = await setPasswordOnPrimary(client, name, (minLength) => userPasswordHash({flag: this.flags.password, interactive: this.interactive, required: true, name, minLength}))
    this.say(`${this.paint.ok('Changed')} the password of ${name} at revision ${config.revision}`)
    return {revision: config.revision, user: name}
  }
}
