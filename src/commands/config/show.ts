import {ClusterCommand} from '../../cli/cluster-command.js'
import {PATHS} from '../../protocol/index.js'

export default class ConfigShow extends ClusterCommand<typeof ConfigShow> {
  static override summary = 'Show the cluster configuration'
  static override description = 'Reads /config/current.json from the primary\'s admin endpoint. Password hashes are shown, clear passwords never exist; private keys of the service identity are redacted.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --primary 10.0.0.11 --json | jq .revision',
  ]

  async run(): Promise<Record<string, unknown>> {
    const client = await this.connect(this.primaryTarget())
    const config = await client.readJson<Record<string, unknown>>(PATHS.config)
    if (!this.jsonEnabled()) this.log(JSON.stringify(config, null, 2))
    return config
  }
}
