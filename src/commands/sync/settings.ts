import {Flags} from '@oclif/core'
import {usageError} from '../../cli/base-command.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig, readConfig} from '../../cli/config-edit.js'

export default class SyncSettings extends ClusterCommand<typeof SyncSettings> {
  static override summary = 'Show or change synchronisation: the periodic check (default: every 60 s) and the commit policy'
  static override description = `Changes are pushed to the secondaries at once either way; --interval and --enable/--disable control the periodic re-check that repairs drift.

--commit decides when a change is acknowledged: "majority" (the default with 3 or more members) once more than half of the members, the primary included, hold it durably, otherwise it is refused and nothing is applied; "primary" (the default with 2 members) once the primary has it, with a warning when a secondary did not confirm it; "auto" picks by the number of members. Majority trades availability (no changes while most members are away) for durability (an acknowledged change survives any failover).`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --interval 30',
    '<%= config.bin %> <%= command.id %> --disable --json',
    '<%= config.bin %> <%= command.id %> --commit majority',
  ]
  static override flags = {
    enable: Flags.boolean({description: 'enable the periodic check', exclusive: ['disable']}),
    disable: Flags.boolean({description: 'disable the periodic check', exclusive: ['enable']}),
    interval: Flags.integer({description: 'seconds between checks (1-86400)', min: 1, max: 86_400}),
    commit: Flags.string({description: 'when a change is acknowledged: majority, primary or auto (by member count)', options: ['majority', 'primary', 'auto']}),
  }

  async run(): Promise<{enabled: boolean; intervalSeconds: number; commit: string; effectiveCommit: string; revision: number}> {
    const client = await this.connect(this.primaryTarget())
    const f = this.flags
    const changing = f.enable || f.disable || f.interval !== undefined || f.commit !== undefined
    if (f.enable && f.disable) throw usageError('--enable and --disable exclude each other')
    const config = changing
      ? await editConfig(client, (c) => {
          if (f.enable) c.sync.enabled = true
          if (f.disable) c.sync.enabled = false
          if (f.interval !== undefined) c.sync.intervalSeconds = f.interval
          if (f.commit !== undefined) c.sync.commit = f.commit as typeof c.sync.commit
        }, 'sync settings')
      : await readConfig(client)
    const commit = config.sync.commit ?? 'auto'
    const effective = commit !== 'auto' ? commit : config.servers.length + 1 >= 3 ? 'majority' : 'primary'
    this.say(`Automatic synchronisation ${config.sync.enabled ? this.paint.ok('enabled') : this.paint.warn('disabled')}, every ${config.sync.intervalSeconds} s (revision ${config.revision})`)
    this.say(`Commit policy ${commit}${commit === 'auto' ? ` (${effective} with ${config.servers.length + 1} member${config.servers.length ? 's' : ''})` : ''}: ${effective === 'majority' ? 'a change is acknowledged once a majority of the members hold it' : 'a change is acknowledged once the primary has it'}`)
    return {...config.sync, commit, effectiveCommit: effective, revision: config.revision}
  }
}
