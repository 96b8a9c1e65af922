import {Flags} from '@oclif/core'
import {ClusterCommand} from '../cli/cluster-command.js'
import {clusterHealth, type ClusterHealth} from '../cli/node-health.js'
import {renderTable} from '../cli/ui/table.js'
import {DEFAULT_HEALTH_PORT, OperationError, PATHS, formatHostPort, type ServersDocument} from '../protocol/index.js'

export default class Health extends ClusterCommand<typeof Health> {
  static override summary = 'Health of every node: exit 0 when all are healthy, 3 otherwise'
  static override description = 'Reads the list of nodes from the primary (/servers.json), then asks each node\'s HTTP health endpoint (GET /healthz, what the load balancer checks) in parallel, with a 3 s timeout. A node is healthy when every enabled service is up and it is not draining. Exit 3 when any node is not healthy; exit 1 when the primary cannot be reached.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq \'.nodes[] | select(.healthy | not)\'',
    '<%= config.bin %> <%= command.id %> --health-port 8080 || page-oncall "ftpcluster unhealthy"',
  ]
  static override flags = {
    'health-port': Flags.integer({description: 'port of the nodes\' health endpoints (the same on every node)', default: DEFAULT_HEALTH_PORT, min: 1, max: 65535}),
  }

  async run(): Promise<ClusterHealth> {
    const primary = this.primaryTarget()
    const doc = await this.serverList(primary)
    const nodes = doc.servers.length > 0 ? doc.servers : [{...primary, role: 'standalone'}]
    const result = await clusterHealth(nodes, this.flags['health-port'], {localAddress: process.env.CLUSTER_LOCAL_ADDRESS || undefined})
    return this.report(result, result.healthy, () => {
      this.log(renderTable(['HOST', 'PORT', 'ROLE', 'HEALTHY', 'REVISION', 'SERVICES', 'ERROR'], result.nodes.map((n) => [
        n.host, n.port, this.paint.state(n.role), n.healthy ? this.paint.ok('yes') : this.paint.bad('no'), n.revision,
        Object.entries(n.services).map(([s, state]) => `${s} ${state}`).join(', ') || null, n.error,
      ])))
      const bad = result.nodes.filter((n) => !n.healthy).length
      this.log(bad === 0 ? this.paint.ok(`All ${result.nodes.length} node${result.nodes.length > 1 ? 's' : ''} healthy`) : this.paint.bad(`${bad} of ${result.nodes.length} nodes not healthy`))
    })
  }

  private async serverList(primary: {host: string; port: number}): Promise<ServersDocument> {
    try {
      return await (await this.connect(primary)).readJson<ServersDocument>(PATHS.servers)
    } catch (error) {
      if (!(error instanceof OperationError) || !['unreachable', 'filtered'].includes(error.code)) throw error
      const at = formatHostPort(primary.host, primary.port)
      throw new OperationError(error.code, `cannot read the list of nodes from the primary: ${error.message}`, `${error.hint ? `${error.hint}; ` : ''}troubleshoot with \`cluster diagnose ${at}\``)
    }
  }
}
