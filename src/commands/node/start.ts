import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base-command.js'

export default class NodeStart extends BaseCommand<typeof NodeStart> {
  static override enableJsonFlag = false
  static override summary = 'Run the node daemon in the foreground until SIGTERM or SIGINT'
  static override description = `Starts every service of the node from its data directory: the admin endpoint (SSH/SFTP), the HTTP health endpoint, the file services (SFTP, FTP, FTPS) and the sync engine. The file sessions run in worker processes, one per core by default (--workers, node.json "workers"): the supervisor accepts each connection, passes the one connection gate (IP filter, limits, bans for all workers together) and hands the socket to the least loaded worker; a worker that dies is restarted. Logs go to stderr, one line per event. SIGTERM or SIGINT stops it gracefully: listeners close, sessions get a few seconds to finish.

Fails with exit 1 and a message naming the file, address or port when DIR is missing or not initialised, a configuration file is corrupt (it is never overwritten), a port is in use or the bind address is not an address of this machine.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> /var/lib/ftpcluster',
    'CLUSTER_LOG_LEVEL=debug <%= config.bin %> <%= command.id %> ./node-a',
    '<%= config.bin %> <%= command.id %> /var/lib/ftpcluster --workers 4',
  ]
  static override flags = {
    workers: Flags.integer({description: 'file-service worker processes for this run (0: sessions in the supervisor) [default: node.json "workers", else one per core]', min: 0, max: 256}),
  }
  static override args = {dir: Args.string({ignoreStdin: true, description: 'data directory created by `cluster node init`', required: true})}

  async run(): Promise<void> {
    // The one place the CLI side starts the daemon (style.md).
    const {startNode} = await import('../../daemon/main.js')
    const node = await startNode(this.args.dir, {handleSignals: true, workers: this.flags.workers})
    await node.stopped
  }
}
