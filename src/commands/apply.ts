import {Flags} from '@oclif/core'
import {guardAdminFilter, lockoutSubjects} from '../cli/admin-lockout.js'
import {ClusterCommand} from '../cli/cluster-command.js'
import {applySpec, loadSpec, newAccounts} from '../cli/apply-spec.js'
import {applyEdit, readConfig} from '../cli/config-edit.js'
import {contentChanges} from '../cli/config-history.js'
import {shortValue} from '../cli/config-drift.js'
import {renderTable} from '../cli/ui/table.js'
import {checkPassword} from '../cli/user-password.js'
import {hashPassword} from '../config/password.js'
import type {ConfigChange} from '../config/config-diff.js'
import type {ClusterConfig} from '../config/schema.js'
import {DEFAULT_PASSWORD_MIN_LENGTH} from '../config/schema.js'

export default class Apply extends ClusterCommand<typeof Apply> {
  static override summary = 'Bring the cluster to a declared state (users, admins, IP filters, sync, settings); re-runnable'
  static override description = `FILE is YAML or JSON (by its .json extension):

  users:                       # created when missing; home, permissions, keys set as listed
    - {name: alice, passwordEnv: ALICE_PASSWORD, permissions: [list, download]}
    - {name: deploy, publicKeyFiles: [deploy.pub], home: /sites}
  admins:
    - {name: cron, publicKeyFiles: [cron.pub]}
  ipFilter:                    # a site listed here gets exactly these rules, in order
    admin: [{allow: 10.0.0.0/8}, {allow: 127.0.0.0/8}]
  sync: {enabled: true, intervalSeconds: 60}
  settings:                    # any setting, as for \`config set\`
    sites.files.proxyProtocol.enabled: false

Passwords come from environment variables (passwordEnv), never from the file, and are set only when an account is created. Nothing that is not listed is removed. All changes are one revision; applying the same file again writes nothing. --dry-run prints what would change: exit 0 when nothing would, 3 when something would.`
  static override examples = [
    'ALICE_PASSWORD=… <%= config.bin %> <%= command.id %> -f cluster.yaml',
    '<%= config.bin %> <%= command.id %> -f cluster.yaml --dry-run || echo "drift"',
    '<%= config.bin %> <%= command.id %> -f cluster.json --json',
  ]
  static override flags = {
    file: Flags.string({char: 'f', description: 'the declared state, YAML or JSON', required: true, helpValue: 'FILE'}),
    'dry-run': Flags.boolean({description: 'print what would change; change nothing (exit 3 when something would)', default: false}),
    force: Flags.boolean({description: 'apply even if the admin IP filter would lock out the primary or this machine', default: false}),
  }

  async run(): Promise<{changed: boolean; dryRun: boolean; revision: number; changes: ConfigChange[]}> {
    const spec = await loadSpec(this.flags.file)
    const client = await this.connect(this.primaryTarget())
    const current = await readConfig(client)
    const created = newAccounts(spec, current)
    const hashes = new Map<string, string>()
    const minLength = current.passwordPolicy?.minLength ?? DEFAULT_PASSWORD_MIN_LENGTH
    for (const [kind, list] of [['user', created.users], ['admin', created.admins]] as const) {
      for (const a of list) {
        if (a.password === undefined) continue
        checkPassword(a.password, minLength, `${kind} ${a.name}`)
        // Hashing is slow (scrypt): only for accounts that do not exist yet, and never in a dry run.
        hashes.set(`${kind}:${a.name}`, this.flags['dry-run'] ? 'scrypt$dry-run' : await hashPassword(a.password))
      }
    }
    const mutate = async (c: ClusterConfig) => {
      const before = structuredClone(c.sites.admin.ipFilter)
      applySpec(c, spec, hashes)
      if (JSON.stringify(before) !== JSON.stringify(c.sites.admin.ipFilter)) guardAdminFilter(before, c.sites.admin.ipFilter, await lockoutSubjects(client, c), this.flags.force)
    }
    if (this.flags['dry-run']) {
      const next = structuredClone(current)
      await mutate(next)
      const changes = contentChanges(current, next)
      const result = {changed: changes.length > 0, dryRun: true, revision: current.revision, changes}
      return this.report(result, changes.length === 0, () => this.show(changes, `would change (revision ${current.revision} now)`))
    }
    let changes: ConfigChange[] = []
    const {config, changed} = await applyEdit(client, async (c) => {
      const before = structuredClone(c)
      await mutate(c)
      changes = contentChanges(before, c)
    }, `apply -f ${this.flags.file}`)
    if (!changed) this.say(`Nothing to change: the cluster matches ${this.flags.file} (revision ${config.revision})`)
    else this.show(changes, `changed, now revision ${config.revision}`)
    return {changed, dryRun: false, revision: config.revision, changes}
  }

  private show(changes: ConfigChange[], what: string): void {
    if (changes.length === 0) return this.log(`Nothing would change: the cluster matches ${this.flags.file}`)
    this.log(`${changes.length} field(s) ${what}:`)
    this.log(renderTable(['FIELD', 'NOW', 'DECLARED'], changes.map((c) => [c.path, shortValue(this.redact(c.primary)), shortValue(this.redact(c.server))])))
  }
}
