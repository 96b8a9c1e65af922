import {ClusterCommand, followFlag} from '../cli/cluster-command.js'
import {renderTable} from '../cli/ui/table.js'
import type {ServersDocument} from '../protocol/index.js'

export default class Servers extends ClusterCommand<typeof Servers> {
  static override summary = 'List the servers of the cluster with their sync state'
  static override description = 'Reads /servers.json from the primary: host, port, role, state (in-sync, syncing, stale, unreachable, refused), revision and the last time each secondary was confirmed identical. Pointed at a secondary, it says so and asks the primary (--no-follow: exit 1). The list is cached in the context, for `health` when the primary is down.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq \'.servers[] | select(.state != "in-sync")\'',
    '<%= config.bin %> <%= command.id %> --primary 10.0.0.12 --no-follow   # exit 1 when 10.0.0.12 is a secondary',
    '<%= config.bin %> <%= command.id %> -o wide',
  ]
  static override flags = {follow: followFlag}

  async run(): Promise<ServersDocument> {
    const {doc} = await this.readServers(this.flags.follow)
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
