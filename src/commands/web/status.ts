import {ClusterCommand} from '../../cli/cluster-command.js'
import {renderTable} from '../../cli/ui/table.js'
import type {WebStatusResult} from '../../protocol/index.js'

export default class WebStatus extends ClusterCommand<typeof WebStatus> {
  static override summary = 'The HTTPS/WebDAV site of every node: up, sessions, signing key in use; exit 3 when a node\'s site is not up'
  static override description = 'Asks the primary, which asks every registered node over the cluster links. SESSIONS counts the distinct browser and bearer sessions used on that node in the last 20 minutes (sessions are stateless and valid on every node, so the same session can count on several). KEY is the id of the key the node signs new sessions with: after `cluster web rotate-keys` every node shows the new one once the change has reached it.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq \'.nodes[] | {host, state, keyId}\'',
  ]

  async run(): Promise<WebStatusResult> {
    const client = await this.connect(this.primaryTarget())
    const result = await client.exec<WebStatusResult>('web-status', {})
    const ok = result.nodes.every((n) => n.state === 'up' || n.state === 'disabled')
    return this.report(result, ok, () => {
      this.log(renderTable(['HOST', 'ROLE', 'STATE', 'HTTPS', 'HTTP', 'SESSIONS', 'KEY', 'ERROR'], result.nodes.map((n) => [
        n.host, n.role, this.paint.state(n.state), n.httpsPort, n.httpPort ?? 'off', n.sessions, n.keyId === result.currentKeyId ? n.keyId : `${n.keyId} (not yet ${result.currentKeyId})`, n.error,
      ])))
    })
  }
}
