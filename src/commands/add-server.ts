import {Args, Flags} from '@oclif/core'
import {cancelled, usageError} from '../cli/base-command.js'
import {ClusterCommand} from '../cli/cluster-command.js'
import {confirm, promptInput, promptPassword} from '../cli/ui/prompt.js'
import {renderTable} from '../cli/ui/table.js'
import {formatHostPort, type AddServerResult} from '../protocol/index.js'

export default class AddServer extends ClusterCommand<typeof AddServer> {
  static override summary = 'Register a secondary with the primary (the first one makes the connected server the primary)'
  static override description = `The primary — not this machine — connects to the secondary's admin endpoint with the secondary's admin credentials, checks its host key (trust on first use, or --fingerprint), backs up the secondary's configuration under its config/backups/, overwrites it with the primary's, authorises the primary's cluster key so later syncs need no password, verifies, and records the server. Each step is shown as it happens.

The secondary's admin IP filter must allow the primary's address; if it does not, the error names the rule to add. Use --dry-run to see what the overwrite would replace without changing anything.`
  static override examples = [
    'CLUSTER_SECONDARY_PASSWORD=s3cret <%= config.bin %> <%= command.id %> 10.0.0.12 --primary 10.0.0.11 --yes',
    '<%= config.bin %> <%= command.id %> 127.0.0.3 --fingerprint SHA256:Xb3… --dry-run',
    '<%= config.bin %> <%= command.id %> node-c.lan:14983 --secondary-user ops --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'secondary admin endpoint HOST[:PORT]'})}
  static override flags = {
    'secondary-user': Flags.string({description: 'admin user on the secondary', default: 'admin'}),
    'secondary-password': Flags.string({description: 'admin password on the secondary (prefer CLUSTER_SECONDARY_PASSWORD: flags show in `ps`)'}),
    fingerprint: Flags.string({description: 'expected SHA256 fingerprint of the secondary\'s host key (from `cluster node init`)', helpValue: 'SHA256:…'}),
    'dry-run': Flags.boolean({description: 'show what the overwrite would replace; change nothing', default: false}),
  }

  async run(): Promise<AddServerResult> {
    let hostText = this.args.host
    if (!hostText) {
      if (!this.interactive) throw usageError('missing HOST: give the secondary\'s address, e.g. `cluster add-server 10.0.0.12`')
      hostText = await promptInput('Secondary address (HOST[:PORT]):')
    }
    const target = this.parseTarget(hostText, 'HOST')
    let password = this.flags['secondary-password'] ?? process.env.CLUSTER_SECONDARY_PASSWORD
    if (!password) {
      if (!this.interactive) throw usageError('no password for the secondary: set CLUSTER_SECONDARY_PASSWORD or give --secondary-password')
      password = await promptPassword(`Admin password of ${this.flags['secondary-user']} on ${formatHostPort(target.host, target.port)}:`)
    }
    const at = formatHostPort(target.host, target.port)
    if (!this.flags['dry-run'] && this.interactive && !(await confirm(`Overwrite the configuration of ${at} with the primary's (its own is backed up first)?`))) {
      throw cancelled()
    }
    const client = await this.connect(this.primaryTarget())
    const result = await this.runAction<AddServerResult>(client, 'add-server', {
      host: target.host, port: target.port, username: this.flags['secondary-user'], password,
      fingerprint: this.flags.fingerprint, dryRun: this.flags['dry-run'],
    })
    if (result.dryRun) {
      this.say(`Dry run: adding ${at} would replace ${result.changes?.length ?? 0} field(s) of its configuration:`)
      this.say(renderTable(['FIELD', 'PRIMARY (new)', 'SECONDARY (now)'], (result.changes ?? []).slice(0, 50).map((c) => [c.path, short(c.primary), short(c.server)])))
      if ((result.changes?.length ?? 0) > 50) this.say(`… and ${result.changes!.length - 50} more (--json shows all)`)
    } else {
      this.say(`${this.paint.ok('Added')} ${at} (node ${result.server.nodeId}) as a secondary at revision ${result.revision}`)
      this.say(`Its previous configuration is kept on it at ${result.backup}`)
    }
    return result
  }
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? 'null'
  return s.length > 40 ? s.slice(0, 39) + '…' : s
}
