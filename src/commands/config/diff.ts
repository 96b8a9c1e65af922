import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {readConfig} from '../../cli/config-edit.js'
import {compareConfigs, shortValue, type DriftReport, type ServerDrift} from '../../cli/config-drift.js'
import {renderTable} from '../../cli/ui/table.js'
import {formatHostPort, PATHS, type ServersDocument} from '../../protocol/index.js'

type AllDrift = {identical: boolean; primaryRevision: number; servers: ServerDrift[]}

export default class ConfigDiff extends ClusterCommand<typeof ConfigDiff> {
  static override summary = 'Compare the primary\'s configuration with a secondary\'s (drift); exit 3 when they differ'
  static override description = `Reads both configurations with the same admin credentials and lists the fields that differ. With HOST, --json prints {identical, primaryRevision, serverRevision, changes: [{path, primary, server}]}. Without HOST, every registered secondary is compared and --json prints {identical, primaryRevision, servers: [{host, port, identical, serverRevision, changes, error}]}; a secondary that cannot be read counts as different.

Exit 0 when identical, 3 when not. \`cluster sync\` repairs drift.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> 10.0.0.12',
    '<%= config.bin %> <%= command.id %> 127.0.0.3 --json | jq -r \'.changes[].path\'',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'secondary admin endpoint HOST[:PORT] (default: every registered secondary)'})}
  static override flags = {
    'show-secrets': Flags.boolean({description: 'show password hashes instead of `scrypt:…`', default: false}),
  }

  async run(): Promise<DriftReport | AllDrift> {
    const primaryClient = await this.connect(this.primaryTarget())
    const primary = await readConfig(primaryClient)
    if (this.args.host) {
      const target = this.parseTarget(this.args.host, 'HOST')
      const report = compareConfigs(primary, await readConfig(await this.connect(target)))
      return this.report(report, report.identical, () => this.show(formatHostPort(target.host, target.port), report))
    }
    const doc = await primaryClient.readJson<ServersDocument>(PATHS.servers)
    const servers = await Promise.all(doc.servers.filter((s) => s.role === 'secondary').map(async (s): Promise<ServerDrift> => {
      try {
        return {host: s.host, port: s.port, ...compareConfigs(primary, await readConfig(await this.connect(s))), error: null}
      } catch (error) {
        return {host: s.host, port: s.port, identical: false, primaryRevision: primary.revision, serverRevision: null, changes: [], error: (error as Error).message}
      }
    }))
    const result: AllDrift = {identical: servers.every((s) => s.identical), primaryRevision: primary.revision, servers}
    return this.report(result, result.identical, () => {
      if (servers.length === 0) this.log('No secondaries registered: nothing to compare.')
      for (const s of servers) this.show(formatHostPort(s.host, s.port), s)
    })
  }

  private show(at: string, r: DriftReport & {error?: string | null}): void {
    if (r.error) return this.log(`${this.paint.bad('✖')} ${at}: ${r.error}`)
    if (r.identical) return this.log(`${this.paint.ok('✔')} ${at} is identical to the primary (revision ${r.primaryRevision})`)
    this.log(`${this.paint.bad('✖')} ${at} differs from the primary: revision ${r.serverRevision} there, ${r.primaryRevision} on the primary; ${r.changes.length} field(s)`)
    if (r.changes.length) this.log(renderTable(['FIELD', 'PRIMARY', 'SERVER'], r.changes.map((c) => [c.path, shortValue(this.redact(c.primary)), shortValue(this.redact(c.server))])))
  }
}
