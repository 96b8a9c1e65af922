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
  static override description = 'Checks, in order, DNS, the TCP connection, the admin IP filter, the SSH banner, the host key (against the pinned one), authentication, reading /status.json, the node\'s version and its clock; a failed step says what to do and skips the steps after it. By default the checks run from this machine with your credentials; --from-primary runs them on the primary (the `probe` action), from its address and with its cluster key, as when it pushes configuration. Exit 0 when every check passes, 3 otherwise.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 10.0.0.12',
    '<%= config.bin %> <%= command.id %> 10.0.0.12:14983 --from-primary',
    '<%= config.bin %> <%= command.id %> node-b.example.com --json | jq \'.checks[] | select(.ok | not)\'',
  ]
  static override args = {
    target: Args.string({description: 'the node\'s admin endpoint HOST[:PORT] (default port 14983)', required: true}),
  }
  static override flags = {
    'from-primary': Flags.boolean({description: 'run the checks on the primary: what it sees when it pushes to this node', default: false}),
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

  private async fromHere(target: {host: string; port: number}): Promise<DiagnoseCheck[]> {
    let credentials: Credentials | undefined
    try {
      credentials = await this.credentials()
    } catch (error) {
      // Without credentials the network steps still tell a lot; say what is left unchecked.
      if (!(error instanceof OperationError) || error.code !== 'invalid') throw error
      process.stderr.write(`Not checking authentication, SFTP, version and clock: ${error.message}${error.hint ? ` (${error.hint})` : ''}\n`)
    }
    const expected = this.global['host-key'] ?? new KnownHosts(this.cliDir).get(target.host, target.port)
    return runDiagnostics({
      ...target,
      credentials,
      expectedFingerprint: expected,
      localAddress: process.env.CLUSTER_LOCAL_ADDRESS || undefined,
      timeoutMs: this.global.timeout * 1000,
      version: this.config.version,
    })
  }

  private async fromPrimary(target: {host: string; port: number}): Promise<DiagnoseCheck[]> {
    const client = await this.connect(this.primaryTarget())
    const result = await client.exec<ProbeResult>('probe', {...target, timeoutMs: this.global.timeout * 1000})
    return result.checks
  }
}
