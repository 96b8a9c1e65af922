import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {readConfig} from '../../cli/config-edit.js'
import {getPath} from '../../cli/config-path.js'

export default class ConfigGet extends ClusterCommand<typeof ConfigGet> {
  static override summary = 'Print one setting of the cluster configuration'
  static override description = 'PATH is dotted, with [N] for list entries; users and adminUsers entries may be named (users.alice.home). A value prints as is, an object or list as JSON. Hashes are shown as `scrypt:…` unless --show-secrets.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> sync.intervalSeconds',
    '<%= config.bin %> <%= command.id %> sites.files.proxyProtocol',
    '<%= config.bin %> <%= command.id %> users.alice.permissions --json',
  ]
  static override args = {path: Args.string({required: true, ignoreStdin: true, description: 'setting, e.g. sites.files.proxyProtocol.enabled'})}
  static override flags = {
    'show-secrets': Flags.boolean({description: 'show password hashes instead of `scrypt:…`', default: false}),
  }

  async run(): Promise<{path: string; value: unknown; revision: number}> {
    const config = await readConfig(await this.connect(this.primaryTarget()))
    const value = this.redact(getPath(config, this.args.path))
    this.say(typeof value === 'string' ? value : JSON.stringify(value, null, 2))
    return {path: this.args.path, value, revision: config.revision}
  }
}
