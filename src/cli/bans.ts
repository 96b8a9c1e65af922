// `cluster bans`: where to ask (the primary, cluster-wide; or one node directly with --node) and the table.
import type {AdminClient} from '../protocol/admin-client.js'
import type {BansResult} from '../protocol/index.js'
import {renderTable} from './ui/table.js'

/**
 * Without --node: the primary, which asks every member with its cluster key. With --node: that node directly,
 * from this machine — the way to lift a ban of the primary's address on a candidate that is not registered yet.
 */
export async function askBans<R extends BansResult>(client: AdminClient, command: 'bans' | 'bans-clear', args: object, direct: boolean): Promise<R> {
  return client.exec<R>(command, {...args, scope: direct ? 'local' : 'cluster'})
}

export function bansTable(result: BansResult): string {
  const rows = result.nodes.flatMap((n) => {
    const node = `${n.host}:${n.port}`
    if (n.error) return [[node, null, null, null, null, n.error]]
    return n.bans.map((b) => [node, b.address, b.listener, b.failures, `${b.until} (${b.secondsLeft} s)`, null])
  })
  return renderTable(['NODE', 'ADDRESS', 'LISTENER', 'FAILURES', 'UNTIL', 'ERROR'], rows)
}
