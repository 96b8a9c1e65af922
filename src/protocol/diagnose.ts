// Connectivity diagnostics for one admin endpoint, one step at a time (dns → tcp → ip-filter → ssh-banner →
// host-key → auth → sftp → version, clock). `cluster diagnose` runs them here; the `probe` exec on a node.
import {createHash} from 'node:crypto'
import dns from 'node:dns/promises'
import net from 'node:net'
import ssh2 from 'ssh2'
import type {Credentials} from './admin-client.js'
import {CLUSTER_SSH_USER, DEFAULT_ADMIN_PORT, FILES_SFTP_IDENT, PATHS, fingerprintOf, formatHostPort, parseBanLine, type DiagnoseCheck, type NodeStatus} from './index.js'

export type CheckName = DiagnoseCheck['name']

/** The checks in the order they run; each needs the ones before it, except version and clock (need sftp). */
export const CHECK_ORDER: readonly CheckName[] = ['dns', 'tcp', 'ban', 'ip-filter', 'ssh-banner', 'host-key', 'auth', 'sftp', 'version', 'clock', 'ftp', 'ftp-pasv', 'cluster']

/** Clocks further apart than this fail the clock check. */
export const DEFAULT_MAX_SKEW_MS = 5000

export interface DiagnoseOptions {
  host: string
  port: number
  /** Without credentials the checks stop after the host key (no failed login is recorded on the node). */
  credentials?: Credentials
  /** The pinned or registered fingerprint; none means nothing to compare with. */
  expectedFingerprint?: string
  /** What to do about a changed key: the CLI and a primary accept a new key differently. */
  hostKeyHint?: (presented: string) => string
  localAddress?: string
  timeoutMs: number
  /** The caller's version, compared with the node's. */
  version: string
  maxSkewMs?: number
  /**
   * Where an IP filter rule for the caller's address must be added: on the primary (a registered node has the
   * cluster's filter), on the node itself (a standalone candidate), or either when the caller cannot tell.
   */
  filterFix?: 'primary' | 'node' | 'unknown'
  /** What to run to authenticate differently, when the default hint does not fit (e.g. add-server's password). */
  authHint?: string
}

/** Arguments of the `probe` exec. */
export interface ProbeRequest {
  host: string
  port?: number
  timeoutMs?: number
  /** A candidate's admin credentials: check what add-server will do instead of the cluster key. */
  username?: string
  password?: string
}

/** Result of the `probe` exec: the checks as run from that node, and the address it connected from. */
export interface ProbeResult {
  from: string
  checks: DiagnoseCheck[]
}

const sha256 = (d: Buffer) => createHash('sha256').update(d).digest()
const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`

const pass = (name: CheckName, detail: string): DiagnoseCheck => ({name, ok: true, detail})
const fail = (name: CheckName, detail: string, hint: string): DiagnoseCheck => ({name, ok: false, detail, hint})

/** Fills the checks that could not run after a failure, so every report lists the same steps. */
export function withSkipped(done: DiagnoseCheck[], names: readonly CheckName[], reason: string): DiagnoseCheck[] {
  const ran = new Set(done.map((c) => c.name))
  const skipped = names.filter((n) => !ran.has(n)).map((name) => ({name, ok: false, detail: `skipped: ${reason}`}))
  return [...done, ...skipped]
}

export function normalizeFingerprint(text: string): string {
  const t = text.trim().replace(/=+$/, '')
  return t.startsWith('SHA256:') ? t : `SHA256:${t}`
}

/** The rule that lets `address` through the admin site's IP filter. */
export function allowRuleFor(address: string): string {
  return `cluster ipfilter add --allow ${address}/${net.isIPv6(address) ? 128 : 32} --site admin`
}

export function ipFilterCheck(sawData: boolean, closed: boolean, localAddress: string, target = 'HOST', fix: DiagnoseOptions['filterFix'] = 'unknown'): DiagnoseCheck {
  if (sawData || !closed) return pass('ip-filter', `the connection from ${localAddress} was accepted (not closed by an IP filter)`)
  const onPrimary = `on the primary: \`${allowRuleFor(localAddress)}\` (then \`cluster sync ${target}\`)`
  const onNode = `on ${target} itself while it is standalone: \`${allowRuleFor(localAddress)} --primary ${target}\` (from an address its filter allows)`
  return fail(
    'ip-filter',
    `closed before the SSH banner: the admin IP filter of ${target} does not allow ${localAddress} (or it has reached its connection limits)`,
    fix === 'primary' ? onPrimary : fix === 'node' ? onNode : `${onNode}; if it is a registered secondary, ${onPrimary}`,
  )
}

/** A ban line before the identification: the node said why it closes the connection. */
export function banCheck(head: string): DiagnoseCheck {
  const ban = parseBanLine(head)
  if (!ban) return pass('ban', 'not banned')
  return fail('ban', ban.message, ban.hint)
}

export function tcpFailure(code: string, host: string, port: number, timeoutMs: number, localAddress?: string, message = code): DiagnoseCheck {
  const at = formatHostPort(host, port)
  switch (code) {
    case 'ECONNREFUSED':
      return fail('tcp', `nothing is listening on ${at}: connection refused`, `start the node on ${host} (\`cluster node start DIR\`); if it is running, its admin port is not ${port}${port === DEFAULT_ADMIN_PORT ? '' : ` (the default is ${DEFAULT_ADMIN_PORT})`}`)
    case 'ETIMEDOUT':
      return fail('tcp', `no answer from ${at} within ${seconds(timeoutMs)}: the packets are dropped`, `check that ${host} is up and that no firewall drops TCP port ${port}`)
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return fail('tcp', `${host} is unreachable from ${localAddress ?? 'here'} (${code})`, 'check the routes and firewalls between the two machines')
    case 'EADDRNOTAVAIL':
      return fail('tcp', `cannot connect from ${localAddress ?? 'the local address'}: it is not an address of this machine (${code})`, 'fix the local address (CLUSTER_LOCAL_ADDRESS, or the node\'s bind address)')
    default:
      return fail('tcp', `cannot connect to ${at}: ${message}`, `check that the node on ${host} is running and that port ${port} is reachable`)
  }
}

export function bannerCheck(banner: string | null, timeoutMs: number, port: number, host = 'HOST'): DiagnoseCheck {
  if (banner === null) {
    return fail('ssh-banner', `no SSH identification within ${seconds(timeoutMs)}`, `check that port ${port} is the node's admin port (default ${DEFAULT_ADMIN_PORT}) and that the node is not overloaded`)
  }
  if (banner === FILES_SFTP_IDENT) {
    return fail('ssh-banner', `${banner}: port ${port} is the files site's SFTP service, not the admin endpoint`, `use the admin port: \`cluster diagnose ${formatHostPort(host, DEFAULT_ADMIN_PORT)}\` (add-server, context and --primary take HOST:${DEFAULT_ADMIN_PORT} or just HOST)`)
  }
  if (/^SSH-(2\.0|1\.99)-/.test(banner)) return pass('ssh-banner', banner)
  return fail('ssh-banner', `answered "${banner.slice(0, 80)}", not an SSH identification`, `port ${port} is another service; the admin endpoint is SSH on port ${DEFAULT_ADMIN_PORT} by default (the health endpoint is HTTP on 14980)`)
}

export function hostKeyCheck(presented: string, expected: string | undefined, hint?: (presented: string) => string): DiagnoseCheck {
  if (!expected) return pass('host-key', `${presented} (nothing pinned to compare with)`)
  const want = normalizeFingerprint(expected)
  if (want === presented) return pass('host-key', `${presented} matches the expected key`)
  return fail(
    'host-key',
    `the host key changed: presented ${presented}, expected ${want}`,
    hint?.(presented) ?? `if the node was re-initialised, accept the new key with --host-key ${presented}; otherwise someone may be intercepting the connection`,
  )
}

export function versionCheck(nodeVersion: string, ours: string): DiagnoseCheck {
  if (nodeVersion === ours) return pass('version', `${nodeVersion}, the same as here`)
  return fail(
    'version',
    `warning: the node runs ${nodeVersion}, this side ${ours}`,
    'expected during a rolling upgrade; finish it so every node runs the same version (the primary refuses to push a configuration a node cannot read)',
  )
}

/** `localMs` is the local time halfway through the request; `rttMs` bounds the error of the measure. */
export function clockCheck(nodeTime: string | undefined, localMs: number, rttMs: number, maxSkewMs = DEFAULT_MAX_SKEW_MS): DiagnoseCheck {
  const nodeMs = nodeTime ? Date.parse(nodeTime) : Number.NaN
  if (Number.isNaN(nodeMs)) return pass('clock', 'not checked: the node does not report its time (an older version)')
  const skew = nodeMs - localMs
  const text = `the node's clock is ${seconds(Math.abs(skew))} ${skew >= 0 ? 'ahead of' : 'behind'} this side's (±${seconds(rttMs / 2)})`
  if (Math.abs(skew) - rttMs / 2 <= maxSkewMs) return pass('clock', text)
  return fail('clock', text, `synchronise the clocks with NTP (chrony, systemd-timesyncd): sync times, audit entries and bans are compared across nodes (tolerance ${seconds(maxSkewMs)})`)
}

export function authFailure(error: {level?: string; message: string}, username: string, authHint?: string): DiagnoseCheck {
  if (error.level === 'client-authentication') {
    const hint = authHint ?? (username === CLUSTER_SSH_USER
      ? 'the node does not know this node\'s cluster key: register it with `cluster add-server` on the primary'
      : 'check the user and password (CLUSTER_USER, CLUSTER_PASSWORD or --password-stdin) or the key')
    return fail('auth', `authentication as "${username}" failed`, hint)
  }
  return fail('auth', `the connection ended during authentication: ${error.message}`, 'repeated failed logins get an address banned for a while; see the node\'s log')
}

async function resolveHost(host: string, timeoutMs: number): Promise<{check: DiagnoseCheck; address?: string}> {
  if (net.isIP(host)) return {check: pass('dns', `${host} is an IP address`), address: host}
  let timer: NodeJS.Timeout | undefined
  try {
    const found = await Promise.race([
      dns.lookup(host, {all: true}),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(Object.assign(new Error('timeout'), {code: 'ETIMEOUT'})), timeoutMs))),
    ])
    return {check: pass('dns', `${host} resolves to ${found.map((a) => a.address).join(', ')}`), address: found[0].address}
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    if (code === 'ENOTFOUND') return {check: fail('dns', `"${host}" does not resolve (${code})`, 'check the spelling, /etc/hosts and the DNS server, or give the IP address')}
    return {check: fail('dns', `the lookup of "${host}" failed (${code})`, 'check the DNS server (/etc/resolv.conf), or give the IP address')}
  } finally {
    clearTimeout(timer)
  }
}

function tcpConnect(address: string, port: number, timeoutMs: number, localAddress?: string): Promise<{socket?: net.Socket; code?: string; message?: string}> {
  return new Promise((resolve) => {
    const socket = net.connect({host: address, port, localAddress, noDelay: true})
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({code: 'ETIMEDOUT'})
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      resolve({socket})
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve({code: error.code ?? 'error', message: error.message})
    })
  })
}

interface Handshake {
  /** The first bytes the node sent (latin1), for a ban line before the identification. */
  head: string
  sawData: boolean
  banner: string | null
  fingerprint: string | null
  hostKeyRejected: boolean
  authenticated: boolean
  error: {level?: string; message: string} | null
}

/** One SSH handshake on a connected socket, observing the bytes for the banner as ssh2 reads them. */
function handshake(client: ssh2.Client, socket: net.Socket, o: DiagnoseOptions): Promise<Handshake> {
  const h: Handshake = {head: '', sawData: false, banner: null, fingerprint: null, hostKeyRejected: false, authenticated: false, error: null}
  let head = ''
  const onData = (d: Buffer) => {
    h.sawData = true
    head += d.toString('latin1')
    // RFC 4253 §4.2: lines may precede the identification, which is the line that starts with "SSH-".
    const lines = head.split('\n').slice(0, -1).map((l) => l.replace(/\r$/, ''))
    const ident = lines.find((l) => l.startsWith('SSH-'))
    if (ident !== undefined) h.banner = ident
    else if (lines.length > 0) h.banner ??= lines[0]
    if (ident !== undefined || head.length > 8192) socket.off('data', onData)
  }
  socket.on('data', onData)
  return new Promise((resolve) => {
    let done = false
    const end = () => {
      if (done) return
      done = true
      socket.off('data', onData)
      if (h.banner === null && head !== '') h.banner = head.slice(0, 80)
      h.head = head
      resolve(h)
    }
    client.once('ready', () => {
      h.authenticated = true
      end()
    })
    client.on('error', (error: Error & {level?: string}) => {
      h.error ??= {level: error.level, message: error.message}
      end()
    })
    client.once('close', end)
    client.connect({
      sock: socket,
      username: o.credentials?.username ?? CLUSTER_SSH_USER,
      password: o.credentials?.password,
      privateKey: o.credentials?.privateKey,
      readyTimeout: o.timeoutMs,
      tryKeyboard: false,
      algorithms: {cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr', 'chacha20-poly1305@openssh.com'] as never},
      hostVerifier: (key: Buffer) => {
        h.fingerprint = fingerprintOf(key, sha256)
        // The files SFTP port: never try an admin login there (its defender would score it).
        if (h.banner === FILES_SFTP_IDENT) return !(h.hostKeyRejected = true)
        const mismatch = o.expectedFingerprint !== undefined && normalizeFingerprint(o.expectedFingerprint) !== h.fingerprint
        // Without credentials, stop here rather than record a failed login on the node.
        h.hostKeyRejected = mismatch || !o.credentials
        return !h.hostKeyRejected
      },
    })
  })
}

function readStatus(client: ssh2.Client, timeoutMs: number): Promise<NodeStatus> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${seconds(timeoutMs)}`)), timeoutMs)
    const settle = (error: Error | null, status?: NodeStatus) => {
      clearTimeout(timer)
      if (error) reject(error)
      else resolve(status!)
    }
    client.sftp((err, sftp) => {
      if (err) return settle(err)
      sftp.readFile(PATHS.status, (e, data) => {
        if (e) return settle(e)
        try {
          const status = JSON.parse(data.toString('utf8')) as NodeStatus
          if (typeof status?.version !== 'string') throw new Error('not a status document')
          settle(null, status)
        } catch (error) {
          settle(error as Error)
        }
      })
    })
  })
}

/** Reads an FTP greeting line ("220 …") within the timeout. */
function ftpGreeting(socket: net.Socket, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let text = ''
    const done = (v: string | null) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(v)
    }
    const timer = setTimeout(() => done(null), timeoutMs)
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
      if (text.includes('\n')) done(text.split(/\r?\n/)[0])
    })
    socket.once('close', () => done(text || null))
  })
}

/**
 * The FTP control port answers, and the passive range is reachable: a closed port answers at once (refused),
 * a firewall that drops the range makes the connection time out — the classic "LIST hangs" behind a balancer.
 */
export async function ftpChecks(address: string, status: NodeStatus, o: Pick<DiagnoseOptions, 'timeoutMs' | 'localAddress'>): Promise<DiagnoseCheck[]> {
  const ftp = status.ftp
  if (!ftp) return [pass('ftp', 'not reported by this node (older version)'), pass('ftp-pasv', 'not checked')]
  if (!ftp.enabled) return [pass('ftp', 'FTP is disabled on this cluster'), pass('ftp-pasv', 'FTP is disabled')]
  const out: DiagnoseCheck[] = []
  const control = await tcpConnect(address, ftp.port, o.timeoutMs, o.localAddress)
  if (!control.socket) {
    out.push(fail('ftp', `cannot reach the FTP port ${formatHostPort(address, ftp.port)}: ${control.code}`, control.code === 'ECONNREFUSED' ? 'the FTP service is down on that node; see its log and `cluster health`' : `a firewall drops port ${ftp.port}; open it`))
  } else {
    const greeting = await ftpGreeting(control.socket, o.timeoutMs)
    out.push(greeting?.startsWith('220')
      ? pass('ftp', `${formatHostPort(address, ftp.port)} greets: ${greeting.slice(0, 60)}`)
      : fail('ftp', `${formatHostPort(address, ftp.port)} answered ${greeting ? `"${greeting.slice(0, 60)}"` : 'nothing'} instead of a 220 greeting`, greeting?.startsWith('421') ? 'this address is refused by the files site (IP filter, ban or limits)' : 'see the node\'s log'))
  }
  const probes = [...new Set([ftp.pasvPortMin, ftp.pasvPortMax])]
  const results = await Promise.all(probes.map((p) => tcpConnect(ftp.advertise, p, Math.min(o.timeoutMs, 3000), o.localAddress)))
  const dropped = probes.filter((_, i) => results[i].code === 'ETIMEDOUT' || results[i].code === 'EHOSTUNREACH' || results[i].code === 'ENETUNREACH')
  for (const r of results) r.socket?.destroy()
  out.push(dropped.length === 0
    ? pass('ftp-pasv', `passive ports ${ftp.pasvPortMin}-${ftp.pasvPortMax} on ${ftp.advertise} are reachable (refused until a transfer opens one)`)
    : fail('ftp-pasv', `passive ports ${dropped.join(', ')} on ${ftp.advertise} do not answer (dropped by a firewall or unroutable)`, `open ${ftp.pasvPortMin}-${ftp.pasvPortMax}/tcp to ${ftp.advertise}, or set the node's advertised address and range (cluster node init --external-address --pasv-ports)`))
  return out
}

/** Runs the checks against `host:port`; never throws: every problem is a failed check with a hint. */
export async function runDiagnostics(o: DiagnoseOptions): Promise<DiagnoseCheck[]> {
  const names = o.credentials ? CHECK_ORDER : CHECK_ORDER.slice(0, CHECK_ORDER.indexOf('host-key') + 1)
  const checks: DiagnoseCheck[] = []
  const stop = (reason: string) => withSkipped(checks, names, reason)

  const resolved = await resolveHost(o.host, o.timeoutMs)
  checks.push(resolved.check)
  if (!resolved.address) return stop(`"${o.host}" does not resolve`)

  const started = Date.now()
  const tcp = await tcpConnect(resolved.address, o.port, o.timeoutMs, o.localAddress)
  if (!tcp.socket) {
    checks.push(tcpFailure(tcp.code ?? 'error', o.host, o.port, o.timeoutMs, o.localAddress, tcp.message))
    return stop('no TCP connection')
  }
  const socket = tcp.socket
  const local = socket.localAddress ?? o.localAddress ?? 'this machine'
  checks.push(pass('tcp', `connected to ${formatHostPort(resolved.address, o.port)} from ${local} in ${Date.now() - started} ms`))

  const client = new ssh2.Client()
  try {
    const h = await handshake(client, socket, o)
    const ban = banCheck(h.head)
    checks.push(ban)
    if (!ban.ok) return stop('the address is banned')
    // A filtered connection is closed at once; one that stays open silently timed out instead.
    const filter = ipFilterCheck(h.sawData, h.error?.level !== 'client-timeout', local, formatHostPort(o.host, o.port), o.filterFix)
    checks.push(filter)
    if (!filter.ok) return stop('the node closed the connection')
    const banner = bannerCheck(h.banner, o.timeoutMs, o.port, o.host)
    checks.push(banner)
    if (!banner.ok) return stop('no SSH banner')

    if (!h.fingerprint) {
      checks.push(fail('host-key', `the SSH handshake failed before the host key: ${h.error?.message ?? 'the connection closed'}`, 'the two sides share no algorithm, or the node is overloaded; see the node\'s log'))
      return stop('no SSH handshake')
    }
    const key = hostKeyCheck(h.fingerprint, o.expectedFingerprint, o.hostKeyHint)
    checks.push(key)
    if (!key.ok) return stop('the host key was not accepted')
    if (!o.credentials) return checks

    if (!h.authenticated) {
      checks.push(authFailure(h.error ?? {message: 'the connection closed'}, o.credentials.username, o.authHint))
      return stop('not authenticated')
    }
    checks.push(pass('auth', `authenticated as "${o.credentials.username}" with ${o.credentials.privateKey ? 'a key' : 'a password'}`))

    const t0 = Date.now()
    let status: NodeStatus
    try {
      status = await readStatus(client, o.timeoutMs)
    } catch (error) {
      checks.push(fail('sftp', `cannot read ${PATHS.status}: ${(error as Error).message}`, 'the admin endpoint\'s SFTP subsystem does not answer; see the node\'s log'))
      return stop(`${PATHS.status} could not be read`)
    }
    const t1 = Date.now()
    checks.push(pass('sftp', `read ${PATHS.status}: node ${status.nodeId}, ${status.role}, revision ${status.revision}`))
    checks.push(versionCheck(status.version, o.version))
    checks.push(clockCheck(status.time, (t0 + t1) / 2, t1 - t0, o.maxSkewMs))
    checks.push(...(await ftpChecks(resolved.address, status, o)))
    // What the node knows is wrong with its part in the cluster (a hand edit, an unlisted secondary, …).
    const problems = status.problems ?? []
    checks.push(problems.length === 0
      ? pass('cluster', `${status.role} at epoch ${status.epoch}, revision ${status.revision}: no known problem`)
      : fail('cluster', problems.map((p) => p.message).join('; '), problems.map((p) => p.hint).join('; ')))
    return checks
  } finally {
    client.end()
    socket.destroy()
  }
}
