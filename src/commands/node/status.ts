import {Args} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {formatHostPort, type NodeStatus} from '../../protocol/index.js'

export default class NodeStatusCommand extends ClusterCommand<typeof NodeStatusCommand> {
  static override summary = 'Show one node\'s status'
  static override description = 'Connects to a node\'s admin endpoint (the primary when HOST is not given) and shows its role, cluster, revision, services, uptime and its file-service workers (pid, sessions, CPU, memory, restarts).'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 127.0.0.3',
    'CLUSTER_PASSWORD=s3cret <%= config.bin %> <%= command.id %> 10.0.0.12:14983 --json',
  ]
  static override args = {host: Args.string({ignoreStdin: true, description: 'node admin endpoint HOST[:PORT] (default: the primary)'})}

  async run(): Promise<NodeStatus> {
    const target = this.args.host ? this.parseTarget(this.args.host, 'HOST') : this.primaryTarget()
    const client = await this.connect(target)
    const status = await client.exec<NodeStatus>('status', null)
    const p = this.paint
    this.say(`${p.bold(formatHostPort(target.host, target.port))}  node ${status.nodeId}  version ${status.version}`)
    this.say(`  role              ${p.state(status.role)}${status.primary ? ` of ${formatHostPort(status.primary.host, status.primary.port)}` : ''}`)
    this.say(`  cluster           ${status.clusterId}  epoch ${status.epoch}`)
    this.say(`  revision          ${status.revision}  ${p.dim(status.hash.slice(0, 12))}`)
    if (status.role === 'secondary') this.say(`  last synchronized ${status.lastSynchronized ?? 'never'}`)
    this.say(`  services          ${Object.entries(status.services).map(([n, s]) => `${n} ${p.state(s)}`).join(', ')}`)
    this.say(`  uptime            ${status.uptimeSeconds} s${status.draining ? p.warn('  (draining)') : ''}`)
    for (const w of status.workers ?? []) {
      const exit = w.lastExit ? p.dim(`  restarted ${w.restarts}× (last: ${w.lastExit.reason} at ${w.lastExit.at})`) : ''
      this.say(`  worker ${String(w.id).padEnd(10)} ${p.state(w.state)}  pid ${w.pid ?? '-'}  ${w.sessions} sessions  cpu ${w.cpuSeconds} s  rss ${Math.round(w.rssBytes / 1048576)} MiB${exit}`)
    }
    return status
  }
}
