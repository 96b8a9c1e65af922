import {Args, Flags} from '@oclif/core'
import {ClusterCommand} from '../cli/cluster-command.js'
import {KnownHosts} from '../cli/known-hosts.js'
import {renderCheckList} from '../cli/ui/check-list.js'
import type {Credentials} from '../protocol/admin-client.js'
import {runDiagnostics, type ProbeResult} from '../protocol/diagnose.js'
import {OperationError, formatHostPort, type DiagnoseCheck} from '../protocol/index.js'

export interface DiagnoseReport {
  target: string
  from: 'local' | 'primary'
  ok: boolean
  checks: DiagnoseCheck[]
}

export default class Diagnose extends ClusterCommand<typeof Diagnose> {
  static override summary = 'Find out step by step why a node\'s admin endpoint cannot be reached'
  static override description = 'Checks, in order, DNS, the TCP connection, the admin IP filter, the SSH banner, the host key (against the pinned one), authentication, reading /status.json, the node\'s version and its clock; a failed step says what to do and skips the steps after it. By default the checks run from this machine with your credentials; --from-primary runs them on the primary (the `probe` action), from its address and with its cluster key, as when it pushes configuration. A node that banned this address says so (the ban check, with the command that lifts it). For a node not registered yet, --from-primary checks the login add-server will use (--secondary-user, CLUSTER_SECONDARY_PASSWORD). Exit 0 when every check passes, 3 otherwise.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.12',
    '<%= config.bin %> <%= command.id %> 10.0.0.12:14983 --from-primary',
    'CLUSTER_SECONDARY_PASSWORD=… <%= config.bin %> <%= command.id %> 10.0.0.13 --from-primary --secondary-user ops   # before add-server',
    '<%= config.bin %> <%= command.id %> node-b.example.com --json | jq \'.checks[] | select(.ok | not)\'',
  ]
  static override args = {
    target: Args.string({description: 'the node\'s admin endpoint HOST[:PORT] (default port 14983)', required: true}),
  }
  static override flags = {
    'from-primary': Flags.boolean({description: 'run the checks on the primary: what it sees when it pushes to this node (or, for a node not registered yet, what add-server will do)', default: false}),
    'secondary-user': Flags.string({description: 'check the login add-server will use: this admin user of the node, with CLUSTER_SECONDARY_PASSWORD or --secondary-password'}),
    'secondary-password': Flags.string({description: 'its password (prefer CLUSTER_SECONDARY_PASSWORD: flags show in `ps`)'}),
  }

  /** The global connection flags of ClusterCommand (FlagsOf types only the base command's). */
  private get global(): {'host-key'?: string; timeout: number} {
    return this.flags as unknown as {'host-key'?: string; timeout: number}
  }

  async run(): Promise<DiagnoseReport> {
    const target = this.parseTarget(this.args.target, 'HOST[:PORT]')
    const checks = this.flags['from-primary'] ? await this.fromPrimary(target) : await this.fromHere(target)
    const from = this.flags['from-primary'] ? 'primary' : 'local'
    const report: DiagnoseReport = {target: formatHostPort(target.host, target.port), from, ok: checks.every((c) => c.ok), checks}
    return this.report(report, report.ok, () => {
      this.log(`Diagnosing ${report.target} from ${from === 'local' ? 'this machine' : 'the primary'}`)
      this.log(renderCheckList(checks, this.paint))
    })
  }

  /** The candidate's login as add-server will use it: --secondary-user (default admin) and its password. */
  private get secondary(): {username: string; password: string} | undefined {
    const password = this.flags['secondary-password'] ?? process.env.CLUSTER_SECONDARY_PASSWORD
    return password ? {username: this.flags['secondary-user'] ?? 'admin', password} : undefined
  }

  private async fromHere(target: {host: string; port: number}): Promise<DiagnoseCheck[]> {
    let credentials: Credentials | undefined
    try {
      credentials = this.flags['secondary-user'] && this.secondary ? this.secondary : await this.credentials()
    } catch (error) {
      // Without credentials the network steps still tell a lot; say what is left unchecked.
      if (!(error instanceof OperationError) || error.code !== 'invalid') throw error
      process.stderr.write(`Not checking authentication, SFTP, version and clock: ${error.message}${error.hint ? ` (${error.hint})` : ''}\n`)
    }
    const expected = this.global['host-key'] ?? new KnownHosts(this.cliDir).get(target.host, target.port)
    const at = formatHostPort(target.host, target.port)
    return runDiagnostics({
      ...target,
      credentials,
      expectedFingerprint: expected,
      hostKeyHint: (presented) => `pin the new key with \`cluster node status ${at} --host-key ${presented}\` if ${at} was re-initialised (compare with the fingerprint node init printed there); otherwise someone may be intercepting the connection`,
      localAddress: process.env.CLUSTER_LOCAL_ADDRESS || undefined,
      timeoutMs: this.global.timeout * 1000,
      version: this.config.version,
    })
  }

  private async fromPrimary(target: {host: string; port: number}): Promise<DiagnoseCheck[]> {
    const client = await this.connect(this.primaryTarget())
    // A node not registered yet is checked with add-server's login (the probe ignores it for members).
    const result = await client.exec<ProbeResult>('probe', {...target, timeoutMs: this.global.timeout * 1000, ...this.secondary})
    return result.checks
  }
}
