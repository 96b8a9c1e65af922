import {Flags} from '@oclif/core'
import {usageError} from '../../cli/base-command.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig, readConfig} from '../../cli/config-edit.js'

export default class SyncSettings extends ClusterCommand<typeof SyncSettings> {
  static override summary = 'Show or change automatic synchronisation (default: enabled, every 60 s)'
  static override description = 'Changes are pushed to the secondaries at once either way; the setting controls the periodic re-check that repairs drift.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --interval 30',
    '<%= config.bin %> <%= command.id %> --disable --json',
  ]
  static override flags = {
    enable: Flags.boolean({description: 'enable the periodic check', exclusive: ['disable']}),
    disable: Flags.boolean({description: 'disable the periodic check', exclusive: ['enable']}),
    interval: Flags.integer({description: 'seconds between checks (1-86400)', min: 1, max: 86_400}),
  }

  async run(): Promise<{enabled: boolean; intervalSeconds: number; revision: number}> {
    const client = await this.connect(this.primaryTarget())
    const f = this.flags
    const changing = f.enable || f.disable || f.interval !== undefined
    if (f.enable && f.disable) throw usageError('--enable and --disable exclude each other')
    const config = changing
      ? await editConfig(client, (c) => {
          if (f.enable) c.sync.enabled = true
          if (f.disable) c.sync.enabled = false
          if (f.interval !== undefined) c.sync.intervalSeconds = f.interval
        }, 'sync settings')
      : await readConfig(client)
    this.say(`Automatic synchronisation ${config.sync.enabled ? this.paint.ok('enabled') : this.paint.warn('disabled')}, every ${config.sync.intervalSeconds} s (revision ${config.revision})`)
    return {...config.sync, revision: config.revision}
  }
}
