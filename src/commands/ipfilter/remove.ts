import {Args, Flags} from '@oclif/core'
import {guardAdminFilter, lockoutSubjects} from '../../cli/admin-lockout.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {editConfig} from '../../cli/config-edit.js'
import {SITES, checkCidr, numbered, removeRule, type NumberedRule, type Site} from '../../cli/ipfilter-edit.js'
import type {IpRule} from '../../config/schema.js'

export default class IpfilterRemove extends ClusterCommand<typeof IpfilterRemove> {
  static override summary = 'Remove the rule for a block from a site\'s IP filter (on the primary, so on every node)'
  static override description = `Removes the rule whose block equals CIDR (10.0.0.1 and 10.0.0.1/32 are the same block). --site defaults to files.

On the admin site, removing the rule that allows the primary's address or this machine's address is refused unless --force.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.0/24',
    '<%= config.bin %> <%= command.id %> 192.168.0.0/16 --site admin --json',
  ]
  static override args = {cidr: Args.string({required: true, ignoreStdin: true, description: 'address or CIDR block of the rule'})}
  static override flags = {
    site: Flags.string({description: 'the site', options: [...SITES], default: 'files'}),
    force: Flags.boolean({description: 'apply even if it locks the primary or this machine out of the admin site', default: false}),
  }

  async run(): Promise<{revision: number; site: Site; removed: IpRule[]; rules: NumberedRule[]}> {
    const site = this.flags.site as Site
    const cidr = checkCidr(this.args.cidr)
    const client = await this.connect(this.primaryTarget())
    let removed: IpRule[] = []
    const config = await editConfig(client, async (c) => {
      const outcome = removeRule(c.sites[site].ipFilter, cidr, site)
      if (site === 'admin') guardAdminFilter(c.sites.admin.ipFilter, outcome.rules, await lockoutSubjects(client, c), this.flags.force)
      c.sites[site].ipFilter = outcome.rules
      removed = outcome.removed
    }, `ipfilter remove ${cidr} --site ${site}`)
    this.say(`${this.paint.ok('Removed')} "${removed.map((r) => `${r.action} ${r.cidr}`).join('", "')}" from the ${site} site, revision ${config.revision}`)
    return {revision: config.revision, site, removed, rules: numbered(config.sites[site].ipFilter)}
  }
}
