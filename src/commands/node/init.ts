import {Args, Flags} from '@oclif/core'
import {BaseCommand, usageError} from '../../cli/base-command.js'
import {promptPassword} from '../../cli/ui/prompt.js'
import {existingNodeDir, initNodeDir, type InitResult} from '../../config/node-dir.js'
import {checkPassword} from '../../cli/user-password.js'
import {DEFAULT_PASSWORD_MIN_LENGTH} from '../../config/schema.js'

export default class NodeInit extends BaseCommand<typeof NodeInit> {
  static override summary = 'Create a node\'s data directory: host key, node id, default configuration'
  static override description = `Creates DIR with node.json (node-local settings), host_key (the admin endpoint's SSH host key, mode 0600), cluster_key, config/current.json (revision 1: an admin site that only loopback and private LAN addresses may reach, one admin user stored as an scrypt hash) and files/ (the default storage root). Prints the host-key fingerprint: give it to \`cluster add-server --fingerprint\` or compare it on first connection.

The admin password comes from --admin-password, CLUSTER_ADMIN_PASSWORD, or a prompt on a terminal; it needs at least 12 characters (the default password policy). With --if-missing an initialised DIR is left as it is (exit 0), so provisioning can re-run.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> /var/lib/ftpcluster --bind 10.0.0.11',
    'CLUSTER_ADMIN_PASSWORD=correct-horse-battery <%= config.bin %> <%= command.id %> ./node-a --bind 127.0.0.2 --json',
    '<%= config.bin %> <%= command.id %> /var/lib/ftpcluster --bind 10.0.0.11 --if-missing   # provisioning',
    '<%= config.bin %> <%= command.id %> ./node-b --bind 127.0.0.3 --storage /mnt/shared/ftp --admin-key ~/.ssh/id_ed25519.pub',
    '<%= config.bin %> <%= command.id %> ./node-c --bind 127.0.0.4 --stripe-dir /srv/disk2/stripe',
  ]
  static override args = {dir: Args.string({ignoreStdin: true, description: 'data directory to create', required: true})}
  static override flags = {
    bind: Flags.string({description: 'address every listener binds to', default: '127.0.0.1'}),
    'admin-user': Flags.string({description: 'name of the first admin user', default: 'admin'}),
    'admin-password': Flags.string({description: 'password of the first admin user [env: CLUSTER_ADMIN_PASSWORD]'}),
    'admin-key': Flags.string({description: 'OpenSSH public key file authorised for the admin user'}),
    storage: Flags.string({description: 'storage root for user files (a shared mount for shared storage) [default: DIR/files]'}),
    'admin-port': Flags.integer({description: 'admin endpoint port (cluster-wide)', min: 1, max: 65535}),
    'sftp-port': Flags.integer({description: 'user SFTP port (cluster-wide)', min: 1, max: 65535}),
    'ftp-port': Flags.integer({description: 'FTP port (cluster-wide)', min: 1, max: 65535}),
    'ftps-port': Flags.integer({description: 'implicit FTPS port (cluster-wide)', min: 1, max: 65535}),
    'health-port': Flags.integer({description: 'HTTP health endpoint port (node-local)', min: 1, max: 65535}),
    'external-address': Flags.string({description: 'address advertised in FTP PASV replies [default: --bind]'}),
    'if-missing': Flags.boolean({description: 'DIR is initialised already: print its node id and host key, change nothing, exit 0 (re-runnable scripts)', default: false}),
    'stripe-dir': Flags.string({description: 'where this node keeps its pieces of the striped cluster [default: STORAGE/.stripe]'}),
    workers: Flags.integer({description: 'file-service worker processes (node-local; 0 runs sessions in the supervisor) [default: one per core]', min: 0, max: 256}),
    'pasv-ports': Flags.string({description: 'this node\'s passive FTP port range, MIN-MAX [default: the cluster\'s 50000-50099]', helpValue: 'MIN-MAX'}),
  }

  async run(): Promise<InitResult & {existing?: boolean}> {
    const f = this.flags
    if (f['if-missing']) {
      const existing = await existingNodeDir(this.args.dir)
      if (existing) {
        this.say(`${existing.dataDir} is already initialised (node ${existing.nodeId}, host key ${existing.fingerprint}): left as it is`)
        return {...existing, existing: true}
      }
    }
    let password = f['admin-password'] ?? process.env.CLUSTER_ADMIN_PASSWORD ?? null
    const keys: string[] = []
    if (f['admin-key']) {
      const {readFile} = await import('node:fs/promises')
      keys.push((await readFile(f['admin-key'], 'utf8').catch(() => { throw usageError(`--admin-key: cannot read ${f['admin-key']}`) })).trim())
    }
    if (password === null && keys.length === 0) {
      if (!this.interactive) throw usageError('no admin password: give --admin-password or set CLUSTER_ADMIN_PASSWORD (or --admin-key)')
      password = await promptPassword(`Password for admin user "${f['admin-user']}":`)
    }
    if (password !== null) checkPassword(password, DEFAULT_PASSWORD_MIN_LENGTH, '--admin-password')
    let pasvPorts: {min: number; max: number} | undefined
    if (f['pasv-ports']) {
      const m = /^(\d+)-(\d+)$/.exec(f['pasv-ports'])
      pasvPorts = m ? {min: Number(m[1]), max: Number(m[2])} : undefined
      if (!pasvPorts || pasvPorts.min < 1024 || pasvPorts.max > 65535 || pasvPorts.max < pasvPorts.min) throw usageError('--pasv-ports: expected MIN-MAX within 1024-65535, e.g. 50000-50099')
    }
    const result = await initNodeDir(this.args.dir, {
      bind: f.bind, adminUser: f['admin-user'], adminPassword: password, adminPublicKeys: keys, storage: f.storage,
      adminPort: f['admin-port'], sftpPort: f['sftp-port'], ftpPort: f['ftp-port'], ftpsPort: f['ftps-port'],
      healthPort: f['health-port'], externalAddress: f['external-address'], pasvPorts, stripeDir: f['stripe-dir'], workers: f.workers,
    })
    this.say(`Initialised node ${result.nodeId} in ${result.dataDir}`)
    this.say(`  bind address      ${result.settings.bind}`)
    this.say(`  storage root      ${result.settings.storage}`)
    this.say(`  host key          ${result.fingerprint}`)
    this.say(`Start it with: ${this.config.bin} node start ${this.args.dir}`)
    return result
  }
}
