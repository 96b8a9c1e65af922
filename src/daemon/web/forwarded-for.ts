// X-Forwarded-For is believed only from trusted proxies: walking the list from the right, the first address
// that is not a trusted proxy is the client. From anyone else the header is ignored (it is free to forge).
import {isIP} from 'node:net'
import {IpFilter} from '../../net/ip-filter.js'

export class ForwardedFor {
  private trusted: IpFilter
  private any: boolean

  constructor(trustedProxies: string[]) {
    this.trusted = new IpFilter([])
    this.any = false
    this.update(trustedProxies)
  }

  update(trustedProxies: string[]): void {
    this.trusted = new IpFilter(trustedProxies.map((cidr) => ({action: 'allow' as const, cidr})))
    this.any = trustedProxies.length > 0
  }

  clientAddress(peer: string, header: string | string[] | undefined): string {
    if (!this.any || header === undefined || !this.trusted.allows(peer)) return peer
    const hops = (Array.isArray(header) ? header.join(',') : header).split(',').map((s) => s.trim()).filter(Boolean)
    let client = peer
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i].replace(/^\[(.*)\]$/, '$1')
      if (isIP(hop) === 0) break
      client = hop
      if (!this.trusted.allows(hop)) break
    }
    return client
  }
}
