import {Flags} from '@oclif/core'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {readConfig} from '../../cli/config-edit.js'
import {SITES, numbered, siteRules, type NumberedRule, type Site} from '../../cli/ipfilter-edit.js'
import {renderTable} from '../../cli/ui/table.js'

export default class IpfilterList extends ClusterCommand<typeof IpfilterList> {
  static override summary = 'List the IP filter rules of the admin and files sites'
  static override description = 'Rules are evaluated top to bottom when a connection arrives, before any protocol byte; the first match decides, and an address no rule matches is denied. Without --site, both sites are shown.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --site admin',
    '<%= config.bin %> <%= command.id %> --site files --json | jq -r \'.sites.files[] | "\\(.action) \\(.cidr)"\'',
  ]
  static override flags = {
    site: Flags.string({description: 'only this site', options: [...SITES]}),
  }

  async run(): Promise<{revision: number; sites: Partial<Record<Site, NumberedRule[]>>}> {
    const config = await readConfig(await this.connect(this.primaryTarget()))
    const sites = (this.flags.site ? [this.flags.site as Site] : [...SITES])
    const result: Partial<Record<Site, NumberedRule[]>> = {}
    for (const site of sites) {
      result[site] = numbered(siteRules(config, site))
      this.say(`${this.paint.bold(site)} site (first match wins; no match denies)`)
      this.say(renderTable(['#', 'ACTION', 'CIDR'], result[site]!.map((r) => [r.position, r.action === 'allow' ? this.paint.ok(r.action) : this.paint.bad(r.action), r.cidr])))
    }
    return {revision: config.revision, sites: result}
  }
}
