import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {applyEdit, readConfig} from '../../cli/config-edit.js'
import {addAdmin, adminSummary, type AdminSummary} from '../../cli/admin-edit.js'
import {readPublicKeyFiles} from '../../cli/user-edit.js'
import {userPasswordHash} from '../../cli/user-password.js'

export default class AdminsAdd extends ClusterCommand<typeof AdminsAdd> {
  static override summary = 'Add an admin user, or public keys to one (on the primary, so on every node)'
  static override description = `A new admin needs a password, a public key (--public-key FILE: key-based logins for cron and CI), or both. The password comes from --password, CLUSTER_ADMIN_PASSWORD (preferred: flags show in \`ps\`), or a prompt on a terminal; it needs passwordPolicy.minLength characters (default 12) and is hashed (scrypt) here.

For an existing admin, --public-key adds the keys (keys it has already are not added twice: re-running changes nothing); a password is refused (that is \`admins passwd\`). --if-missing leaves an existing admin alone.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> cron --public-key ~/.ssh/cron_ed25519.pub',
    'CLUSTER_ADMIN_PASSWORD="$PW" <%= config.bin %> <%= command.id %> ops --if-missing --json',
  ]
  static override args = {name: Args.string({required: true, ignoreStdin: true, description: 'admin user name'})}
  static override flags = {
    password: Flags.string({description: 'the admin\'s password (prefer CLUSTER_ADMIN_PASSWORD)'}),
    'public-key': Flags.string({description: 'OpenSSH public key file; repeatable', multiple: true, helpValue: 'FILE'}),
    'if-missing': Flags.boolean({description: 'an admin of that name exists: leave it as it is, exit 0', default: false}),
  }

  async run(): Promise<{revision: number; admin: AdminSummary; created: boolean; changed: boolean}> {
    const {name} = this.args
    const f = this.flags
    const publicKeys = await readPublicKeyFiles(f['public-key'] ?? [])
    const client = await this.connect(this.primaryTarget())
    const current = await readConfig(client)
    const existing = current.adminUsers.find((a) => a.name === name)
    if (existing && (f['if-missing'] || publicKeys.length === 0)) {
      if (!f['if-missing']) await addAdmin(current, name, 'scrypt$x', []) // the "already exists" error
      this.say(`Admin ${name} exists already: left as it is, revision ${current.revision}`)
      return {revision: current.revision, admin: adminSummary(existing), created: false, changed: false}
    }
    const passwordHash = existing ? null : await userPasswordHash({
      flag: f.password, interactive: this.interactive, required: publicKeys.length === 0, name,
      minLength: current.passwordPolicy?.minLength, env: 'CLUSTER_ADMIN_PASSWORD',
    })
    let outcome: ReturnType<typeof addAdmin> | undefined
    const {config, changed} = await applyEdit(client, (c) => void (outcome = addAdmin(c, name, passwordHash, publicKeys)), `admins add ${name}`)
    const {admin, created} = outcome!
    this.say(created
      ? `${this.paint.ok('Added')} admin ${name} (${admin.passwordHash ? 'password' : 'no password'}, ${admin.publicKeys.length} key(s)) at revision ${config.revision}`
      : changed ? `${this.paint.ok('Added')} key(s) to admin ${name}: ${admin.publicKeys.length} now, revision ${config.revision}` : `Admin ${name} has these keys already: nothing to do`)
    return {revision: config.revision, admin: adminSummary(admin), created, changed}
  }
}
