import {Args, Flags} from '@oclif/core'
import {guardAdminFilter, lockoutSubjects} from '../../cli/admin-lockout.js'
import {cancelled, usageError} from '../../cli/base-command.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig, readConfig} from '../../cli/config-edit.js'
import {contentChanges, readRestorable, rollbackDocument} from '../../cli/config-history.js'
import {confirm} from '../../cli/ui/prompt.js'
import type {ConfigChange} from '../../config/config-diff.js'

export default class ConfigRollback extends ClusterCommand<typeof ConfigRollback> {
  static override summary = 'Restore a past revision of the configuration as a new revision'
  static override description = `Reads /config/history/REVISION.json on the primary and writes its content back as a new revision, which is pushed to every secondary. Kept as they are now: the membership (cluster id, epoch, primary, registered servers — managed by add-server, remove-server and promote) and the service identity's private keys (history holds them redacted).

REVISION can also be EPOCH-REVISION, a revision discarded by failover (listed by \`cluster config history\`): its content is re-applied the same way, as a new change.

Nothing is written when the content is already the same. Asks for confirmation on a terminal unless --yes. A rollback whose admin IP filter would lock out the primary or this machine is refused unless --force.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> 12',
    '<%= config.bin %> <%= command.id %> 12 --yes --json',
    '<%= config.bin %> <%= command.id %> 1-8 --yes   # re-apply a change discarded by failover',
  ]
  static override args = {revision: Args.string({required: true, ignoreStdin: true, description: 'revision to restore, or EPOCH-REVISION of one discarded by failover (see `cluster config history`)'})}
  static override flags = {
    force: Flags.boolean({description: 'apply even if it locks the primary or this machine out of the admin site', default: false}),
    'show-secrets': Flags.boolean({description: 'show password hashes instead of `scrypt:…`', default: false}),
  }

  async run(): Promise<{rolledBack: boolean; from: number | string; revision: number; kept: string[]; changes: ConfigChange[]}> {
    const ref = this.args.revision
    if (!/^[1-9]\d*(-[1-9]\d*)?$/.test(ref)) throw usageError(`REVISION: expected a revision number or EPOCH-REVISION, got "${ref}"`, 'list them with `cluster config history`')
    const from: number | string = ref.includes('-') ? ref : Number(ref)
    const client = await this.connect(this.primaryTarget())
    const target = await readRestorable(client, ref)
    const current = await readConfig(client)
    const preview = contentChanges(current, rollbackDocument(target, current).doc)
    if (preview.length === 0) {
      this.say(`The configuration already has the content of revision ${from} (revision ${current.revision}): nothing to do`)
      return {rolledBack: false, from, revision: current.revision, kept: [], changes: []}
    }
    if (this.interactive && !(await confirm(`Restore revision ${from} over revision ${current.revision} (${preview.length} field(s)) on every node?`))) throw cancelled()
    let kept: string[] = []
    let changes: ConfigChange[] = []
    const config = await editConfig(client, async (c) => {
      const rolled = rollbackDocument(target, c)
      guardAdminFilter(c.sites.admin.ipFilter, rolled.doc.sites.admin.ipFilter, await lockoutSubjects(client, c), this.flags.force)
      changes = contentChanges(c, rolled.doc)
      kept = rolled.kept
      for (const k of Object.keys(c)) delete (c as unknown as Record<string, unknown>)[k]
      Object.assign(c, rolled.doc)
    }, `config rollback ${this.args.revision}`)
    this.say(`${this.paint.ok('Restored')} revision ${from} as revision ${config.revision} (${changes.length} field(s) changed)`)
    if (kept.length) this.say(`Kept the current ${kept.join(', ')} (membership is not rolled back)`)
    return {rolledBack: true, from, revision: config.revision, kept, changes}
  }
}
