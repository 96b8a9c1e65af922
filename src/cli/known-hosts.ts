// Pinned host keys of admin endpoints: trust on first use (or an expected fingerprint given up front),
// then refuse any other key, showing both fingerprints and how to accept the new one.
import {OperationError, formatHostPort} from '../protocol/index.js'
import {openStore} from './config-dir.js'

interface KnownHostsData extends Record<string, unknown> {
  hosts: Record<string, {fingerprint: string; addedAt: string}>
}

export class KnownHosts {
  private readonly store

  constructor(dir: string) {
    this.store = openStore<KnownHostsData>(dir, 'known_hosts', {hosts: {}})
  }

  get(host: string, port: number): string | undefined {
    return this.store.get('hosts')[formatHostPort(host, port)]?.fingerprint
  }

  set(host: string, port: number, fingerprint: string): void {
    const hosts = {...this.store.get('hosts'), [formatHostPort(host, port)]: {fingerprint, addedAt: new Date().toISOString()}}
    this.store.set('hosts', hosts)
  }

  remove(host: string, port: number): boolean {
    const hosts = {...this.store.get('hosts')}
    const key = formatHostPort(host, port)
    if (!(key in hosts)) return false
    delete hosts[key]
    this.store.set('hosts', hosts)
    return true
  }

  list(): {host: string; fingerprint: string; addedAt: string}[] {
    return Object.entries(this.store.get('hosts')).map(([host, v]) => ({host, ...v}))
  }

  /**
   * The host-key check for one connection. `expected` (a `--host-key` flag) must match when given and
   * replaces a pinned key; otherwise the pinned key must match, or the first key seen is pinned.
   */
  checker(host: string, port: number, expected: string | undefined, onPinned?: (fingerprint: string) => void): (fingerprint: string) => void {
    return (fingerprint) => {
      const at = formatHostPort(host, port)
      if (expected) {
        if (normalizeFingerprint(expected) !== fingerprint) {
          throw new OperationError('host-key', `the host key of ${at} is ${fingerprint}, not the expected ${expected}`, 'check the fingerprint printed by `cluster node init` on that node')
        }
        if (this.get(host, port) !== fingerprint) this.set(host, port, fingerprint)
        return
      }
      const pinned = this.get(host, port)
      if (pinned === undefined) {
        this.set(host, port, fingerprint)
        onPinned?.(fingerprint)
        return
      }
      if (pinned !== fingerprint) {
        throw new OperationError(
          'host-key',
          `HOST KEY OF ${at} HAS CHANGED: stored ${pinned}, presented ${fingerprint}. Someone could be intercepting the connection, or the node was re-initialised`,
          `if you expect the change, accept the new key with --host-key ${fingerprint}`,
        )
      }
    }
  }
}

export function normalizeFingerprint(text: string): string {
  const t = text.trim()
  return t.startsWith('SHA256:') ? t.replace(/=+$/, '') : `SHA256:${t.replace(/=+$/, '')}`
}
