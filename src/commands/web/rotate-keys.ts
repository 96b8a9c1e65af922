import {ClusterCommand} from '../../cli/cluster-command.js'
import type {WebRotateResult} from '../../protocol/index.js'

export default class WebRotateKeys extends ClusterCommand<typeof WebRotateKeys> {
  static override summary = 'Rotate the web session signing key cluster-wide'
  static override description = 'The primary generates a new random signing key and pushes it to every node with the configuration. New sessions (and renewals of existing ones) are signed with the new key; the previous keys keep verifying until every session they signed has expired (20 minutes), then a later rotation drops them. Nobody is logged out. Run it on a schedule, or at once if a key may have leaked (then also consider `cluster users passwd`, which ends that user\'s sessions).'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ]

  async run(): Promise<WebRotateResult> {
    const client = await this.connect(this.primaryTarget())
    const result = await client.exec<WebRotateResult>('web-rotate-keys', {})
    this.say(`New signing key ${this.paint.bold(result.currentKeyId)} at revision ${result.revision}; still verifying: ${result.keyIds.filter((k) => k !== result.currentKeyId).join(', ') || 'none'}. Existing sessions keep working.`)
    return result
  }
}
