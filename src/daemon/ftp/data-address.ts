// Parsing PORT/EPRT arguments and formatting PASV/EPSV replies (RFC 959, RFC 2428).
import {isIP} from 'node:net'

export interface HostPort {
  host: string
  port: number
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are the same peer. */
export function normalizeAddress(address: string | undefined): string {
  const a = address ?? ''
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a.toLowerCase()
}

/** `h1,h2,h3,h4,p1,p2` → host and port, or null when malformed. */
export function parsePort(arg: string): HostPort | null {
  const parts = arg.trim().split(',')
  if (parts.length !== 6 || parts.some((p) => !/^\d{1,3}$/.test(p))) return null
  const n = parts.map(Number)
  if (n.some((v) => v > 255)) return null
  return {host: n.slice(0, 4).join('.'), port: n[4] * 256 + n[5]}
}

/** `|1|132.235.1.2|6275|` (any delimiter in 33-126) → host and port, or null. */
export function parseEprt(arg: string): HostPort | null {
  const s = arg.trim()
  if (s.length < 7) return null
  const d = s[0]
  const parts = s.split(d)
  if (parts.length !== 5 || parts[0] !== '' || parts[4] !== '') return null
  const [, proto, host, portText] = parts
  if (!/^\d{1,5}$/.test(portText)) return null
  const port = Number(portText)
  if (port < 1 || port > 65535) return null
  if ((proto === '1' && isIP(host) !== 4) || (proto === '2' && isIP(host) !== 6) || (proto !== '1' && proto !== '2')) return null
  return {host, port}
}

export function formatPasv(address: string, port: number): string | null {
  if (isIP(address) !== 4) return null
  return `Entering Passive Mode (${address.split('.').join(',')},${port >> 8},${port & 0xff})`
}

export function formatEpsv(port: number): string {
  return `Entering Extended Passive Mode (|||${port}|)`
}
