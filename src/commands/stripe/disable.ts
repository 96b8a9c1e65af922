import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig, readConfig} from '../../cli/config-edit.js'
import {disableStripe} from '../../cli/stripe-edit.js'

export default class StripeDisable extends ClusterCommand<typeof StripeDisable> {
  static override summary = 'Stop the striped cluster\'s gateway (the storage nodes keep their files)'
  static override description = 'The gateway stops serving the virtual tree (FTP and SFTP); sessions in progress are closed after their transfers. The storage nodes and their pieces stay as they are, so `cluster stripe enable HOST` brings everything back (the new gateway rebuilds its catalogue from the nodes). Re-running it is harmless.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']

  async run(): Promise<{revision: number; changed: boolean}> {
    const client = await this.connect(this.primaryTarget())
    if (!(await readConfig(client)).stripe.enabled) {
      this.say('The striped cluster is already disabled: nothing to do.')
      return {revision: (await readConfig(client)).revision, changed: false}
    }
    const config = await editConfig(client, (c) => void disableStripe(c), 'stripe disable')
    this.say(`${this.paint.ok('Disabled')} the striped cluster's gateway, revision ${config.revision}; the storage nodes keep their files.`)
    return {revision: config.revision, changed: true}
  }
}
