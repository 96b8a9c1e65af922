import {Args, Flags} from '@oclif/core'
import {cancelled, usageError} from '../cli/base-command.js'
import {ClusterCommand} from '../cli/cluster-command.js'
import {confirm, promptInput, promptPassword} from '../cli/ui/prompt.js'
import {renderTable} from '../cli/ui/table.js'
import {DEFAULT_ADMIN_PORT, DEFAULT_FTP_PORT, DEFAULT_FTPS_PORT, DEFAULT_SFTP_PORT, OperationError, PATHS, formatHostPort, type AddServerResult, type ServersDocument} from '../protocol/index.js'

export default class AddServer extends ClusterCommand<typeof AddServer> {
  static override summary = 'Register a secondary with the primary (the first one makes the connected server the primary)'
  static override description = `The primary — not this machine — connects to the secondary's admin endpoint with the secondary's admin credentials, checks its host key (trust on first use, or --fingerprint), backs up the secondary's configuration under its config/backups/, overwrites it with the primary's, authorises the primary's cluster key so later syncs need no password, verifies, and records the server. Each step is shown as it happens.

The secondary's admin IP filter must allow the primary's address; if it does not, the error names the rule to add. Use --dry-run to see what the overwrite would replace without changing anything. On a terminal it shows that list, once the secondary was reached, and asks before overwriting. A server already registered and in sync is left alone (exit 0), so provisioning scripts can re-run it.`
  static override examples = [
    'CLUSTER_SECONDARY_PASSWORD=s3cret <%= config.bin %> <%= command.id %> 10.0.0.12 --primary 10.0.0.11 --yes',
    '<%= config.bin %> <%= command.id %> 10.0.0.12 --yes   # again: a registered, in-sync server is a no-op (exit 0)',
    '<%= config.bin %> <%= command.id %> 127.0.0.3 --fingerprint SHA256:Xb3… --dry-run',
    '<%= config.bin %> <%= command.id %> node-c.lan:14983 --secondary-user ops --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'secondary admin endpoint HOST[:PORT]'})}
  static override flags = {
    'secondary-user': Flags.string({description: 'admin user on the secondary', default: 'admin'}),
    'secondary-password': Flags.string({description: 'admin password on the secondary (prefer CLUSTER_SECONDARY_PASSWORD: flags show in `ps`)'}),
    fingerprint: Flags.string({description: 'expected SHA256 fingerprint of the secondary\'s host key (from `cluster node init`)', helpValue: 'SHA256:…'}),
    'dry-run': Flags.boolean({description: 'show what the overwrite would replace; change nothing', default: false}),
    'show-secrets': Flags.boolean({description: 'show password hashes instead of `scrypt:…`', default: false}),
  }

  async run(): Promise<AddServerResult & {unchanged?: boolean}> {
    let hostText = this.args.host
    if (!hostText) {
      if (!this.interactive) throw usageError('missing HOST: give the secondary\'s address, e.g. `cluster add-server 10.0.0.12`')
      hostText = await promptInput('Secondary address (HOST[:PORT]):')
    }
    const target = this.parseTarget(hostText, 'HOST')
    const at = formatHostPort(target.host, target.port)
    const client = await this.connect(this.primaryTarget())
    // Re-running a provisioning script: a registered, in-sync server is left alone (no password, no revision).
    const registered = (await client.readJson<ServersDocument>(PATHS.servers)).servers.find((s) => s.host === target.host && s.port === target.port && s.role === 'secondary')
    // "syncing": a push of a change made a moment ago is under way; the member is registered all the same.
    if ((registered?.state === 'in-sync' || registered?.state === 'syncing') && !this.flags['dry-run']) {
      this.say(`${at} is already a registered secondary (${registered.state}, revision ${registered.revision}): nothing to do`)
      return {dryRun: false, unchanged: true, server: {nodeId: registered.nodeId, host: target.host, port: target.port, fingerprint: '', addedAt: ''}, revision: registered.revision ?? 0}
    }
    let password = this.flags['secondary-password'] ?? process.env.CLUSTER_SECONDARY_PASSWORD
    if (!password) {
      if (!this.interactive) throw usageError('no password for the secondary: set CLUSTER_SECONDARY_PASSWORD or give --secondary-password')
      password = await promptPassword(`Admin password of ${this.flags['secondary-user']} on ${at}:`)
    }
    const request = {host: target.host, port: target.port, username: this.flags['secondary-user'], password, fingerprint: this.flags.fingerprint}
    const add = (dryRun: boolean) => this.runAction<AddServerResult>(client, 'add-server', {...request, dryRun}).catch((error: unknown) => {
      throw explainWrongPort(error, target)
    })
    if (!this.flags['dry-run'] && this.interactive) {
      // Ask once the secondary was reached: show what its configuration loses, then confirm.
      const preview = await add(true)
      this.showChanges(at, preview)
      if (!(await confirm(`Overwrite the configuration of ${at} with the primary's (its own is backed up first)?`))) throw cancelled()
    }
    const result = await add(this.flags['dry-run'])
    if (result.dryRun) this.showChanges(at, result)
    else {
      this.say(`${this.paint.ok('Added')} ${at} (node ${result.server.nodeId}) as a secondary at revision ${result.revision}`)
      this.say(`Its previous configuration is kept on it at ${result.backup}`)
    }
    return result
  }

  private showChanges(at: string, result: AddServerResult): void {
    const changes = result.changes ?? []
    this.say(`Adding ${at} replaces ${changes.length} field(s) of its configuration${result.dryRun && this.flags['dry-run'] ? ' (dry run: nothing changed)' : ''}:`)
    if (changes.length > 0) this.say(renderTable(['FIELD', 'PRIMARY (new)', 'SECONDARY (now)'], changes.slice(0, 50).map((c) => [c.path, short(this.redact(c.primary)), short(this.redact(c.server))])))
    if (changes.length > 50) this.say(`… and ${changes.length - 50} more (--json shows all)`)
  }
}

/** The primary's "refused admin user" on a files port means the wrong port, not the wrong password. */
function explainWrongPort(error: unknown, target: {host: string; port: number}): unknown {
  if (!(error instanceof OperationError)) return error
  if (error.message.includes('is the files site\'s')) return new OperationError('invalid', error.message, `add it by its admin port: \`cluster add-server ${formatHostPort(target.host, DEFAULT_ADMIN_PORT)}\``)
  if (error.code !== 'auth') return error
  const files: Record<number, string> = {[DEFAULT_SFTP_PORT]: 'SFTP', [DEFAULT_FTP_PORT]: 'FTP', [DEFAULT_FTPS_PORT]: 'FTPS'}
  if (!files[target.port]) return error
  return new OperationError('invalid', `port ${target.port} is the files site's ${files[target.port]} port, not the admin endpoint (${error.message})`, `add it by its admin port: \`cluster add-server ${formatHostPort(target.host, DEFAULT_ADMIN_PORT)}\``)
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? 'null'
  return s.length > 40 ? s.slice(0, 39) + '…' : s
}
