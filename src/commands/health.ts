import {Flags} from '@oclif/core'
import {ClusterCommand, followFlag} from '../cli/cluster-command.js'
import {clusterHealth, type ClusterHealth, type HealthTarget} from '../cli/node-health.js'
import {renderTable} from '../cli/ui/table.js'
import {DEFAULT_HEALTH_PORT, OperationError, formatHostPort} from '../protocol/index.js'

export default class Health extends ClusterCommand<typeof Health> {
  static override summary = 'Health of every node: exit 0 when all are healthy, 3 otherwise'
  static override description = `Reads the list of nodes from the primary (/servers.json), then asks each node's HTTP health endpoint (GET /healthz, what the load balancer checks) in parallel, with a 3 s timeout. A node is healthy when every enabled service is up and it is not draining. Exit 3 when any node is not healthy.

Pointed at a secondary, it says so and asks the primary (--no-follow: exit 1). When the primary cannot be reached, it still checks every node it knows — --nodes, or the last servers list cached in the context — and says which one to promote.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq \'.nodes[] | select(.healthy | not)\'',
    '<%= config.bin %> <%= command.id %> --nodes 10.0.0.11,10.0.0.12,10.0.0.13 || page-oncall "ftpcluster unhealthy"',
  ]
  static override flags = {
    'health-port': Flags.integer({description: 'port of the nodes\' health endpoints (the same on every node)', default: DEFAULT_HEALTH_PORT, min: 1, max: 65535}),
    nodes: Flags.string({description: 'comma-separated HOST[:PORT] of the nodes to check when the primary is down (default: the context\'s last servers list)', helpValue: 'HOST,…'}),
    follow: followFlag,
  }

  async run(): Promise<ClusterHealth & {primaryReachable?: boolean}> {
    let nodes: HealthTarget[]
    let noPrimary: string | undefined
    try {
      const {doc} = await this.readServers(this.flags.follow)
      const primary = this.primaryTarget()
      nodes = doc.servers.length > 0 ? doc.servers : [{...primary, role: 'standalone'}]
    } catch (error) {
      if (!(error instanceof OperationError) || !['unreachable', 'filtered', 'banned'].includes(error.code)) throw error
      const known = this.knownNodes()
      if (known.length === 0) {
        const at = formatHostPort(this.primaryTarget().host, this.primaryTarget().port)
        throw new OperationError(error.code, `cannot read the list of nodes from the primary: ${error.message}`, `${error.hint ? `${error.hint}; ` : ''}give the nodes with --nodes HOST,… to check them anyway, or troubleshoot with \`cluster diagnose ${at}\``)
      }
      noPrimary = error.message
      nodes = known.map((n) => ({...n, role: 'unknown'}))
    }
    const result: ClusterHealth & {primaryReachable?: boolean} = await clusterHealth(nodes, this.flags['health-port'], {localAddress: process.env.CLUSTER_LOCAL_ADDRESS || undefined})
    if (noPrimary) {
      result.healthy = false
      result.primaryReachable = false
    }
    const live = result.nodes.filter((n) => n.healthy)
    return this.report(result, result.healthy, () => {
      if (noPrimary) this.log(this.paint.bad(`No primary: ${noPrimary}`))
      this.log(renderTable(['HOST', 'PORT', 'ROLE', 'HEALTHY', 'REVISION', 'SERVICES', 'ERROR'], result.nodes.map((n) => [
        n.host, n.port, this.paint.state(n.role), n.healthy ? this.paint.ok('yes') : this.paint.bad('no'), n.revision,
        Object.entries(n.services).map(([s, state]) => `${s} ${state}`).join(', ') || null, n.error,
      ])))
      const bad = result.nodes.length - live.length
      if (noPrimary) {
        const best = [...live].sort((a, b) => (b.revision ?? 0) - (a.revision ?? 0))[0]
        this.log(best
          ? `no primary: promote one with \`${this.config.bin} promote ${formatHostPort(best.host, best.port)}\` (the healthy node with the highest revision, ${best.revision})`
          : 'no primary and no healthy node: start the nodes (`cluster node start DIR`), then promote one with `cluster promote HOST`')
      } else this.log(bad === 0 ? this.paint.ok(`All ${result.nodes.length} node${result.nodes.length > 1 ? 's' : ''} healthy`) : this.paint.bad(`${bad} of ${result.nodes.length} nodes not healthy`))
    })
  }

  /** --nodes, or the nodes cached in the context by the last servers list; the unreachable primary is among them. */
  private knownNodes(): {host: string; port: number}[] {
    const list = this.flags.nodes?.split(',').map((t) => t.trim()).filter(Boolean) ?? this.context()?.context.nodes ?? []
    return list.map((t) => this.parseTarget(t, '--nodes'))
  }
}
