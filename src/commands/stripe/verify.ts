import {StripeCommand} from '../../cli/stripe-command.js'
import {Progress} from '../../cli/ui/progress.js'
import {formatHostPort, type StripeVerifyResult} from '../../protocol/index.js'

export default class StripeVerify extends StripeCommand<typeof StripeVerify> {
  static override summary = 'Re-hash every copy on the storage nodes and report those that differ from the catalogue'
  static override description = 'Each node that is up re-reads its copies and computes their SHA-256; the gateway compares size and hash with the catalogue. A missing or different copy is a mismatch: exit 3 (for cron and monitoring), with every mismatch listed (--json: the whole report on stdout). Copies on nodes that are down are counted as unchecked. Read-only: it repairs nothing. Progress goes to stderr.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json | jq \'.mismatches[]\'']

  async run(): Promise<StripeVerifyResult> {
    const {client} = await this.gatewayClient()
    const progress = new Progress()
    let r: StripeVerifyResult
    try {
      r = await client.exec<StripeVerifyResult>('stripe-verify', null, (e) => progress.step(e.message))
    } finally {
      progress.stop()
    }
    return this.report(r, r.mismatches.length === 0, () => {
      for (const m of r.mismatches) this.log(this.paint.warn(`mismatch ${m.path} on ${formatHostPort(m.host, m.port)}: ${m.actual ? `size ${m.actual.size}, sha256 ${m.actual.sha256}` : 'missing'} (catalogue: size ${m.expected.size}, sha256 ${m.expected.sha256})`))
      this.log(`${r.mismatches.length ? this.paint.warn('Verify found problems') : this.paint.ok('Verified')}: ${r.files} files, ${r.copiesChecked} copies checked, ${r.mismatches.length} mismatches, ${r.unchecked} unchecked (node down)`)
    })
  }
}
