import {Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {PATHS} from '../../protocol/index.js'

export default class ConfigShow extends ClusterCommand<typeof ConfigShow> {
  static override summary = 'Show the cluster configuration'
  static override description = 'Reads /config/current.json from the primary\'s admin endpoint. Clear passwords never exist; password hashes are shown as `scrypt:…` and the private keys of the service identity are redacted, unless --show-secrets.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --primary 10.0.0.11 --json | jq .revision',
    '<%= config.bin %> <%= command.id %> --show-secrets --json > cluster-backup.json && chmod 600 cluster-backup.json',
  ]
  static override flags = {
    'show-secrets': Flags.boolean({description: 'include the password hashes and the private keys of the service identity (SFTP host key, TLS key)', default: false}),
  }

  async run(): Promise<Record<string, unknown>> {
    const client = await this.connect(this.primaryTarget())
    const config = await client.readJson<Record<string, unknown>>(this.flags['show-secrets'] ? PATHS.configWithSecrets : PATHS.config)
    if (!this.jsonEnabled()) this.log(JSON.stringify(this.redact(config), null, 2))
    return config
  }
}
