import {Args} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {renderTable} from '../../cli/ui/table.js'
import type {SyncResult} from '../../protocol/index.js'

export default class Sync extends ClusterCommand<typeof Sync> {
  static override summary = 'Push the configuration now, to one secondary or all, and wait for the result'
  static override description = 'The primary compares each secondary with its own configuration and overwrites those that differ. Exits 1 when a secondary could not be synchronised.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> 10.0.0.12 --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'secondary HOST[:PORT] (default: all)'})}

  async run(): Promise<{results: SyncResult[]}> {
    const target = this.args.host ? this.parseTarget(this.args.host, 'HOST') : undefined
    const client = await this.connect(this.primaryTarget())
    const out = await client.exec<{results: SyncResult[]}>('sync', {...target, check: true})
    this.say(renderTable(['HOST', 'PORT', 'STATE', 'REVISION', 'ERROR'], out.results.map((r) => [r.host, r.port, this.paint.state(r.state), r.revision, r.error])))
    const failed = out.results.filter((r) => r.state !== 'in-sync')
    if (failed.length > 0) {
      const {OperationError} = await import('../../protocol/index.js')
      if (this.jsonEnabled()) process.stdout.write(JSON.stringify(out, null, 2) + '\n')
      throw Object.assign(new OperationError('refused', `${failed.length} secondary(ies) not in sync: ${failed.map((f) => `${f.host}:${f.port} ${f.state}`).join(', ')}`, 'see `cluster diagnose HOST` for why'), {printed: this.jsonEnabled()})
    }
    return out
  }
}
