import {realpathSync} from 'node:fs'
import path from 'node:path'
import {Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {startDemo} from '../cli/demo-cluster.js'
import {stripeDemoText} from '../cli/demo-text.js'
import {Progress} from '../cli/ui/progress.js'

export default class Demo extends BaseCommand<typeof Demo> {
  static override enableJsonFlag = false
  static override summary = 'Start a local demo cluster and run it until Ctrl-C'
  static override description = `Initialises and starts N nodes on consecutive loopback addresses (127.0.0.2, 127.0.0.3, …; Linux routes all of 127.0.0.0/8 to loopback), makes the first one the primary and adds the others as secondaries, adds a user "demo", prints how to connect with sftp, curl and the CLI, and runs until Ctrl-C. Then it stops every node and removes their data (unless --dir was given).

With --stripe it starts the striped cluster instead: the first address is the primary and the gateway (FTP on port 2100, SFTP on 2200), followed by --nodes storage nodes of 1 GiB each with their own stripe directories, 2 copies of every file.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --nodes 5',
    '<%= config.bin %> <%= command.id %> --address 127.0.10.2 --dir ./demo-data',
    '<%= config.bin %> <%= command.id %> --stripe   # a gateway on 127.0.0.2:2100 and 3 storage nodes',
  ]
  static override flags = {
    nodes: Flags.integer({description: 'number of nodes (primary + secondaries); with --stripe, of storage nodes behind the gateway', default: 3, min: 1, max: 50}),
    stripe: Flags.boolean({description: 'start the striped cluster: a gateway and --nodes storage nodes', default: false}),
    address: Flags.string({description: 'address of the first node; the others follow', default: '127.0.0.2'}),
    dir: Flags.string({description: 'keep the nodes\' data here instead of a temporary directory'}),
  }

  async run(): Promise<void> {
    const progress = new Progress()
    const demo = await startDemo({nodes: this.flags.nodes, firstAddress: this.flags.address, dir: this.flags.dir, stripe: this.flags.stripe, onStep: (m) => progress.step(m)})
    progress.done(demo.stripe ? `striped cluster running: gateway + ${demo.stripe.storageNodes.length} storage nodes` : `${demo.addresses.length}-node cluster running`)
    const [p, ...secondaries] = demo.addresses
    const b = this.paint.bold
    const bin = commandName(this.config.bin, this.config.root)
    if (demo.stripe) this.log(stripeDemoText(demo, bin, b))
    else this.log(`
${b('Primary')}      ${p}  (admin SSH 14983, health http://${p}:14980/healthz)
${b('Secondaries')}  ${secondaries.join(', ') || 'none'}
${b('Admin')}        user admin, password ${demo.adminPassword}
${b('File user')}    ${demo.user.name} / ${demo.user.password} — the same on every node
${b('Storage')}      ${demo.storage} (shared by all nodes, like an NFS mount)

Try it (in another terminal):
  export CLUSTER_PRIMARY=${p} CLUSTER_PASSWORD='${demo.adminPassword}'
  ${bin} servers
  ${bin} node status ${secondaries[0] ?? p}
  curl -T README.md -u ${demo.user.name}:${demo.user.password} ftp://${secondaries[0] ?? p}:2121/
  curl -u ${demo.user.name}:${demo.user.password} ftp://${secondaries[1] ?? p}:2121/README.md
  sftp -P 2222 ${demo.user.name}@${p}
  ssh -p 14983 admin@${p} status

Data in ${demo.dir}. Press Ctrl-C to stop the cluster.`)
    const signal = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'))
      process.once('SIGTERM', () => resolve('SIGTERM'))
    })
    const why = await Promise.race([signal, demo.crashed])
    progress.step(`stopping (${why})`)
    await demo.stop()
    progress.done('demo cluster stopped and cleaned up')
  }
}

/** How to type the CLI in another terminal: `cluster` when that name on PATH is this CLI, else `npx cluster` (a clone). */
function commandName(bin: string, root: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    try {
      if (realpathSync(path.join(dir, bin)) === realpathSync(path.join(root, 'bin', 'run.js'))) return bin
    } catch {
      // not in this directory
    }
  }
  return `npx ${bin}`
}
