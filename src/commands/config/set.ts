import {Args} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {applyEdit} from '../../cli/config-edit.js'
import {parseValue, setPath} from '../../cli/config-path.js'

export default class ConfigSet extends ClusterCommand<typeof ConfigSet> {
  static override summary = 'Change one setting of the cluster configuration (on the primary, so on every node)'
  static override description = `VALUE is read as JSON when it parses (true, 8080, null, ["10.0.0.5/32"], {"enabled":true}) and as a string otherwise. The node validates the whole document against the schema; a bad value is refused with the field named and nothing is changed. Setting the value it has already changes nothing (no new revision).

Membership fields (clusterId, epoch, primary, servers, revision) cannot be set; users, admins and IP filters have their own commands.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> sites.files.proxyProtocol.enabled true',
    '<%= config.bin %> <%= command.id %> sites.files.proxyProtocol.trustedProxies \'["10.0.0.5/32"]\'',
    '<%= config.bin %> <%= command.id %> passwordPolicy.minLength 16 --json',
  ]
  static override args = {
    path: Args.string({required: true, ignoreStdin: true, description: 'setting, e.g. sync.intervalSeconds'}),
    value: Args.string({required: true, ignoreStdin: true, description: 'new value (JSON, or a plain string)'}),
  }

  async run(): Promise<{path: string; value: unknown; previous: unknown; revision: number; changed: boolean}> {
    const value = parseValue(this.args.value)
    let previous: unknown
    const {config, changed} = await applyEdit(await this.connect(this.primaryTarget()), (c) => {
      previous = setPath(c as unknown as Record<string, unknown>, this.args.path, value).previous
    }, `config set ${this.args.path}`)
    this.say(changed
      ? `${this.paint.ok('Set')} ${this.args.path} = ${JSON.stringify(value)} (was ${JSON.stringify(previous) ?? 'unset'}) at revision ${config.revision}`
      : `${this.args.path} is ${JSON.stringify(value)} already: nothing to do (revision ${config.revision})`)
    return {path: this.args.path, value, previous, revision: config.revision, changed}
  }
}
