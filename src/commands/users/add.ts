import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {addUserOnPrimary} from '../../cli/remote-user-edit.js'
import {parsePermissions, readPublicKeyFiles, userSummary, type UserSummary} from '../../cli/user-edit.js'
import {userPasswordHash} from '../../cli/user-password.js'
import type {User} from '../../config/schema.js'

export default class UsersAdd extends ClusterCommand<typeof UsersAdd> {
  static override summary = 'Add a file-service user (on the primary, so on every node)'
  static override description = `The user needs a password, a public key, or both. The password comes from --password, CLUSTER_USER_PASSWORD (preferred: flags show in \`ps\`), or a prompt on a terminal; it must have at least passwordPolicy.minLength characters (default 12) and is hashed (scrypt) here; only the hash is sent. --if-missing leaves an existing user alone (exit 0), for scripts that re-run. The home is relative to each node's storage root (default /NAME).

Permissions: a comma-separated list of list, download, upload, overwrite, delete, mkdir, rename, chmod, or "all" (the default) or "none".`
  static override examples = [
    'CLUSTER_USER_PASSWORD=correct-horse-battery <%= config.bin %> <%= command.id %> alice',
    'CLUSTER_USER_PASSWORD="$PW" <%= config.bin %> <%= command.id %> alice --if-missing   # provisioning',
    '<%= config.bin %> <%= command.id %> deploy --public-key ~/.ssh/deploy.pub --home /sites --permissions list,download,upload',
    '<%= config.bin %> <%= command.id %> bob --password bob-long-passphrase --permissions list,download --json',
  ]
  static override args = {name: Args.string({required: true, ignoreStdin: true, description: 'user name (letters, digits, _ . @ -)'})}
  static override flags = {
    password: Flags.string({description: 'the user\'s password (prefer CLUSTER_USER_PASSWORD)'}),
    'public-key': Flags.string({description: 'OpenSSH public key file (authorized_keys format); repeatable', multiple: true, helpValue: 'FILE'}),
    home: Flags.string({description: 'home directory under the storage root (default: /NAME)', helpValue: 'PATH'}),
    permissions: Flags.string({description: 'comma-separated permissions, "all" or "none" (default: all)', helpValue: 'list,download,…'}),
    'if-missing': Flags.boolean({description: 'a user of that name exists already: leave it as it is and exit 0 (re-runnable scripts)', default: false}),
  }

  async run(): Promise<{revision: number; user: UserSummary; unchanged?: boolean}> {
    const {name} = this.args
    const f = this.flags
    const permissions = f.permissions === undefined ? undefined : parsePermissions(f.permissions)
    const publicKeys = await readPublicKeyFiles(f['public-key'] ?? [])
    const client = await this.connect(this.primaryTarget())
    // The primary adds it (a small edit there, not the whole configuration here and back); the password is
    // asked for only once the name is known to be free.
    const added = await addUserOnPrimary(client, {name, publicKeys, home: f.home, permissions, ifMissing: f['if-missing']}, (minLength) =>
      userPasswordHash({flag: f.password, interactive: this.interactive, required: publicKeys.length === 0, name, minLength}))
    const user = userSummary(added.user as User)
    if (added.unchanged) {
      this.say(`User ${name} exists already: left as it is (--if-missing), revision ${added.revision}`)
      return {revision: added.revision, user, unchanged: true}
    }
    this.say(`${this.paint.ok('Added')} user ${name} (home ${user.home}, ${user.hasPassword ? 'password' : 'no password'}, ${publicKeys.length} key(s)) at revision ${added.revision}`)
    return {revision: added.revision, user}
  }
}
