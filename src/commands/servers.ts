import {ClusterCommand} from '../cli/cluster-command.js'
import {renderTable} from '../cli/ui/table.js'
import {PATHS, type ServersDocument} from '../protocol/index.js'

export default class Servers extends ClusterCommand<typeof Servers> {
  static override summary = 'List the servers of the cluster with their sync state'
  static override description = 'Reads /servers.json from the primary: host, port, role, state (in-sync, syncing, stale, unreachable, refused), revision and the last time each secondary was confirmed identical.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq \'.servers[] | select(.state != "in-sync")\'',
  ]

  async run(): Promise<ServersDocument> {
    const client = await this.connect(this.primaryTarget())
    const doc = await client.readJson<ServersDocument>(PATHS.servers)
    const p = this.paint
    if (doc.servers.length === 0) this.say('This node is standalone: no servers registered. Add one with `cluster add-server HOST`.')
    else {
      this.say(`Revision ${doc.revision}, epoch ${doc.epoch}`)
      const versions = new Set(doc.servers.map((s) => s.version).filter(Boolean))
      this.say(renderTable(['HOST', 'PORT', 'ROLE', 'STATE', 'REVISION', 'VERSION', 'LAST SYNCHRONIZED', 'ERROR'], doc.servers.map((s) => [
        s.host, s.port, p.state(s.role), p.state(s.state), s.revision, s.version ?? null, s.lastSynchronized, s.error,
      ])))
      if (versions.size > 1) this.say(p.warn(`Mixed versions (${[...versions].join(', ')}): finish the rolling upgrade`))
    }
    return doc
  }
}
