// The front door of a site that sits behind a load balancer: when the site expects PROXY protocol headers,
// only trusted proxies may connect, and the client address the gate, logs and sessions see is the header's.
import type {Socket} from 'node:net'
import type {ProxyProtocolSettings} from '../config/schema.js'
import {IpFilter} from './ip-filter.js'
import {readProxyHeader} from './proxy-protocol.js'

/** Where a dropped connection is reported (the service's logger). */
interface DropLog {
  info(msg: string, fields?: Record<string, unknown>): void
}

export class ProxyFront {
  private settings!: ProxyProtocolSettings
  private trusted!: IpFilter

  constructor(
    readonly site: string,
    settings: ProxyProtocolSettings,
    private readonly timeoutMs = 3000,
  ) {
    this.update(settings)
  }

  /** Connections are expected to start with a PROXY header. */
  get enabled(): boolean {
    return this.settings.enabled
  }

  /** Applies to connections accepted from now on. */
  update(settings: ProxyProtocolSettings): void {
    this.settings = settings
    this.trusted = new IpFilter(settings.trustedProxies.map((cidr) => ({action: 'allow' as const, cidr})))
  }

  /**
   * The client address of a new connection: the socket's own when PROXY is off (or the header says LOCAL),
   * else the header's. Resolves null after destroying a connection from an untrusted peer or with a bad header.
   */
  async clientAddress(socket: Socket, log: DropLog): Promise<string | null> {
    const peer = socket.remoteAddress ?? ''
    if (!this.settings.enabled) return peer
    const drop = (reason: string) => {
      log.info('connection dropped', {site: this.site, peer, reason})
      socket.destroy()
      return null
    }
    // an untrusted peer could claim any client address in its header and walk past filters and bans
    if (!this.trusted.allows(peer)) return drop('not a trusted proxy (sites.' + this.site + '.proxyProtocol.trustedProxies)')
    try {
      const header = await readProxyHeader(socket, {timeoutMs: this.timeoutMs})
      return header.command === 'proxy' ? header.source.address : peer
    } catch (error) {
      return drop((error as Error).message)
    }
  }
}
