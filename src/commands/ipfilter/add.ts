import {Args, Flags} from '@oclif/core'
import {guardAdminFilter, lockoutSubjects} from '../../cli/admin-lockout.js'
import {usageError} from '../../cli/base-command.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {applyEdit} from '../../cli/config-edit.js'
import {SITES, addRule, checkCidr, numbered, sameBlock, type NumberedRule, type Site} from '../../cli/ipfilter-edit.js'
import type {IpRule} from '../../config/schema.js'

export default class IpfilterAdd extends ClusterCommand<typeof IpfilterAdd> {
  static override summary = 'Add an allow or deny rule to a site\'s IP filter (on the primary, so on every node)'
  static override description = `The rule goes to the top (position 1) unless --position says otherwise: the first matching rule decides, so a new rule takes effect even when a broader one exists. A rule for the same block is replaced; the same rule already in the list is left as it is (no new revision), so scripts can re-run it. --site defaults to files (the users' site).

On the admin site, a change that would deny the primary's address (its secondaries would refuse its pushes) or this machine's address (you could not undo it) is refused unless --force.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --deny 203.0.113.0/24',
    '<%= config.bin %> <%= command.id %> --allow 198.51.100.7 --site admin',
    '<%= config.bin %> <%= command.id %> --deny 10.0.0.0/8 --site admin --position 3 --json',
  ]
  static override args = {cidr: Args.string({required: true, ignoreStdin: true, description: 'address or CIDR block, IPv4 or IPv6'})}
  static override flags = {
    allow: Flags.boolean({description: 'allow the block', exactlyOne: ['allow', 'deny']}),
    deny: Flags.boolean({description: 'deny the block', exactlyOne: ['allow', 'deny']}),
    site: Flags.string({description: 'the site', options: [...SITES], default: 'files'}),
    position: Flags.integer({description: '1-based position in the list (default 1: the top)', min: 1}),
    force: Flags.boolean({description: 'apply even if it locks the primary or this machine out of the admin site', default: false}),
  }

  async run(): Promise<{revision: number; site: Site; added: NumberedRule; replaced: IpRule[]; rules: NumberedRule[]; unchanged?: boolean}> {
    const f = this.flags
    if (f.allow === f.deny) throw usageError('give exactly one of --allow and --deny')
    const site = f.site as Site
    const rule: IpRule = {action: f.allow ? 'allow' : 'deny', cidr: checkCidr(this.args.cidr)}
    const client = await this.connect(this.primaryTarget())
    let outcome: ReturnType<typeof addRule> | undefined
    let existing: number | undefined
    const {config, changed} = await applyEdit(client, async (c) => {
      // The same rule already there (and no position asked for): nothing to do, no new revision.
      existing = f.position === undefined ? c.sites[site].ipFilter.findIndex((r) => r.action === rule.action && sameBlock(r.cidr, rule.cidr)) : -1
      if (existing >= 0) return
      outcome = addRule(c.sites[site].ipFilter, rule, f.position)
      if (site === 'admin') guardAdminFilter(c.sites.admin.ipFilter, outcome.rules, await lockoutSubjects(client, c), f.force)
      c.sites[site].ipFilter = outcome.rules
    }, `ipfilter add --${rule.action} ${rule.cidr} --site ${site}`)
    if (!changed && existing !== undefined && existing >= 0) {
      this.say(`"${rule.action} ${rule.cidr}" is already rule ${existing + 1} of the ${site} site: nothing to do (revision ${config.revision})`)
      return {revision: config.revision, site, added: {position: existing + 1, ...rule}, replaced: [], rules: numbered(config.sites[site].ipFilter), unchanged: true}
    }
    const {replaced, position} = outcome!
    this.say(`${this.paint.ok('Added')} "${rule.action} ${rule.cidr}" at position ${position} of the ${site} site${replaced.length ? ` (replacing "${replaced.map((r) => `${r.action} ${r.cidr}`).join('", "')}")` : ''}, revision ${config.revision}`)
    return {revision: config.revision, site, added: {position, ...rule}, replaced, rules: numbered(config.sites[site].ipFilter)}
  }
}
