import {Flags} from '@oclif/core'
import {ClusterCommand, followFlag} from '../../cli/cluster-command.js'
import {renderTable} from '../../cli/ui/table.js'
import type {ServersDocument} from '../../protocol/index.js'

export default class SyncCheck extends ClusterCommand<typeof SyncCheck> {
  static override summary = 'For cron: exit 0 when every secondary is in sync, 3 otherwise'
  static override description = 'Reads the primary\'s live view of its secondaries: its kept-open links run SSH keepalives, so a dead or cut-off secondary shows unreachable within about 3 s, and the periodic check compares each secondary\'s current.json on disk (its content hash) with the primary\'s. A secondary counts as in sync when its state is in-sync and, with --max-age, it was confirmed identical within that many seconds. Exit 3 also when the primary cannot confirm it is still the primary.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> || echo "cluster out of sync"',
    '<%= config.bin %> <%= command.id %> --max-age 180 --json',
  ]
  static override flags = {
    'max-age': Flags.integer({description: 'seconds since a secondary was last confirmed identical', min: 1}),
    follow: followFlag,
  }

  async run(): Promise<{inSync: boolean; problems: string[]; servers: ServersDocument['servers']}> {
    const {doc} = await this.readServers(this.flags.follow)
    const maxAge = this.flags['max-age']
    const problems: string[] = []
    const primary = doc.servers.find((x) => x.role === 'primary')
    if (primary && primary.state !== 'in-sync') problems.push(`the primary ${primary.host}:${primary.port} is ${primary.state}${primary.error ? `: ${primary.error}` : ''}`)
    for (const s of doc.servers.filter((x) => x.role === 'secondary')) {
      const at = `${s.host}:${s.port}`
      if (s.state !== 'in-sync') problems.push(`${at} is ${s.state}${s.error ? `: ${s.error}` : ''}`)
      else if (maxAge && (!s.lastSynchronized || Date.now() - Date.parse(s.lastSynchronized) > maxAge * 1000)) {
        problems.push(`${at} was last confirmed ${s.lastSynchronized ?? 'never'} (older than ${maxAge} s)`)
      }
    }
    const result = {inSync: problems.length === 0, problems, servers: doc.servers}
    return this.report(result, result.inSync, () => {
      this.log(renderTable(['HOST', 'PORT', 'ROLE', 'STATE', 'REVISION', 'LAST SYNCHRONIZED'], doc.servers.map((s) => [s.host, s.port, s.role, this.paint.state(s.state), s.revision, s.lastSynchronized])))
      if (problems.length) this.log(problems.map((p) => `✖ ${p}`).join('\n'))
      else this.log(this.paint.ok(`All ${doc.servers.length - 1} secondaries in sync at revision ${doc.revision}`))
    })
  }
}
