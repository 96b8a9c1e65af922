// The `bans` and `bans-clear` execs: the defender's active bans on this node, or — asked on the primary with
// scope "cluster" — on every member, which the primary asks with its cluster key (a ban never blocks that).
import type {ExecContext, NodeRuntime} from '../daemon/node-runtime.js'
import {OperationError, formatHostPort, type BansResult, type NodeBans} from '../protocol/index.js'
import {connectAsMember} from './member-client.js'

function scopeOf(args: Record<string, unknown>, ctx: ExecContext): 'local' | 'cluster' {
  const {scope = 'cluster'} = args
  if (scope !== 'local' && scope !== 'cluster') throw new OperationError('invalid', '"scope" must be "local" or "cluster"')
  // A member asking another member is always one hop: no fan-out loops.
  return ctx.actor.kind === 'cluster' ? 'local' : scope
}

function clearSpec(args: Record<string, unknown>): {address?: string; all: boolean} {
  const {address, all = false} = args
  if (typeof all !== 'boolean') throw new OperationError('invalid', '"all" must be true or false')
  if (address !== undefined && (typeof address !== 'string' || address.trim() === '')) throw new OperationError('invalid', '"address" must be a non-empty string')
  if (!all && address === undefined) throw new OperationError('invalid', 'give "address" or "all": true')
  return {address: typeof address === 'string' ? address.trim() : undefined, all}
}

export function registerBans(runtime: NodeRuntime): void {
  const self = (): Omit<NodeBans, 'bans'> => ({host: runtime.settings.externalAddress ?? runtime.settings.bind, port: runtime.config.sites.admin.port, nodeId: runtime.settings.nodeId, error: null})

  /** Runs `command` locally and, for scope cluster on the primary, on every registered secondary in parallel. */
  const fanOut = async (command: string, args: Record<string, unknown>, ctx: ExecContext, local: () => NodeBans): Promise<BansResult> => {
    const mine = local()
    if (scopeOf(args, ctx) === 'local' || runtime.role() !== 'primary') return {nodes: [mine]}
    const others = runtime.config.servers.filter((s) => s.nodeId !== runtime.settings.nodeId)
    const remote = await Promise.all(others.map(async (s): Promise<NodeBans> => {
      const base = {host: s.host, port: s.port, nodeId: s.nodeId}
      try {
        const client = await connectAsMember(runtime.identity.clusterPrivateKey, runtime.settings.bind, s)
        try {
          const r = await client.exec<BansResult>(command, {...args, scope: 'local'})
          return {...base, ...r.nodes[0], ...base}
        } finally {
          client.close()
        }
      } catch (error) {
        return {...base, bans: [], error: `${formatHostPort(s.host, s.port)}: ${(error as Error).message}`}
      }
    }))
    return {nodes: [mine, ...remote]}
  }

  runtime.exec.set('bans', (args, ctx) => fanOut('bans', args, ctx, () => ({...self(), bans: runtime.defender.list()})))

  runtime.exec.set('bans-clear', (args, ctx) => {
    const spec = clearSpec(args)
    return fanOut('bans-clear', args, ctx, () => {
      const cleared = spec.all ? runtime.defender.clearAll() : runtime.defender.clear(spec.address!) ? [spec.address!] : []
      if (cleared.length > 0) runtime.log.info('bans lifted', {addresses: cleared.join(','), by: ctx.actor.user, from: ctx.actor.address})
      return {...self(), bans: runtime.defender.list(), cleared}
    })
  })
}
