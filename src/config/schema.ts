// The cluster configuration: one document, a section per subsystem. Every field is documented where it is
// declared; `validateConfig` checks shape and semantics and names the offending field.
import {isIP} from 'node:net'
import {parseCidr} from '../net/ip-filter.js'
import {DEFAULT_RESOURCE_LIMITS as R} from './resource-limits.js'

export const SCHEMA_VERSION = 1

/** One IP filter rule; rules are evaluated in order, the first match wins, no match means deny. */
export interface IpRule {
  /** `allow` or `deny`. */
  action: 'allow' | 'deny'
  /** An address or a CIDR block, IPv4 or IPv6 (`10.0.0.0/8`, `::1`). */
  cidr: string
}

/** Brute-force protection, per source address (the defender). */
export interface DefenderSettings {
  /** Score at which an address is banned (a failed login scores `failedLoginScore`). */
  threshold: number
  failedLoginScore: number
  /** Window in seconds over which scores add up. */
  windowSeconds: number
  /** First ban in seconds; each repeat offence multiplies it by `banGrowth`. */
  banSeconds: number
  banGrowth: number
  /** Delay before answering a failed login, milliseconds (slows guessing, same for unknown users). */
  failDelayMs: number
}

/** Connection limits applied by the connection gate of every listener. */
export interface LimitSettings {
  /** Connections per source address. */
  perAddress: number
  /** Connections in total per listener. */
  total: number
  /** Unauthenticated connections per source address. */
  unauthenticatedPerAddress: number
  /** Seconds a connection may take to authenticate. */
  loginGraceSeconds: number
  /** Authentication attempts per connection before disconnect (OpenSSH MaxAuthTries). */
  maxAuthTries: number
  /** Seconds without traffic before an idle session is closed. */
  idleTimeoutSeconds: number
  // -- resource limits of authenticated sessions (issue 9); absent in older documents → the defaults --
  /** SSH session channels per connection (OpenSSH MaxSessions): each may run an SFTP subsystem. */
  sessionsPerConnection: number
  /** Open files (downloads and uploads) per SFTP or FTP connection. */
  handlesPerConnection: number
  /** File descriptors one user's sessions may hold on a node at once, over all its connections. */
  descriptorsPerUser: number
}

/** PROXY protocol (v1 or v2) on a site's listeners, for sites behind a load balancer such as HAProxy. */
export interface ProxyProtocolSettings {
  /** Expect a PROXY header on every connection; the client address in it is what filters, bans and logs use. */
  enabled: boolean
  /** Addresses or CIDR blocks of the load balancers; a connection from any other peer is dropped. */
  trustedProxies: string[]
}

/** The admin site: SSH/SFTP on `port`, used by the CLI and by the primary. */
export interface AdminSite {
  port: number
  ipFilter: IpRule[]
}

/** The files site: what users connect to. */
export interface FilesSite {
  sftp: {enabled: boolean; port: number}
  ftp: {
    enabled: boolean
    port: number
    /** Passive data ports, inclusive. */
    pasvPortMin: number
    pasvPortMax: number
    /** Refuse USER and data transfers before TLS (explicit FTPS). */
    requireTls: boolean
    /**
     * A TLS data connection must resume the control connection's TLS session (vsftpd `require_ssl_reuse`,
     * FileZilla Server's session-resumption check); false is the compatibility switch for clients that cannot.
     */
    requireTlsSessionReuse: boolean
  }
  /** Implicit FTPS (TLS from the first byte). */
  ftps: {enabled: boolean; port: number}
  ipFilter: IpRule[]
  /** PROXY protocol on the SFTP and FTP control listeners (FTP data connections go to the node directly). */
  proxyProtocol: ProxyProtocolSettings
  /**
   * An upload is flushed to disk (fdatasync, then the directory after the rename) before it is acknowledged
   * (FTP 226, SFTP CLOSE, WebDAV 201/204), so it survives a power loss, not only a crash of the node. False
   * behaves like vsftpd and OpenSSH's sftp-server: faster for small files, lost with the page cache.
   */
  syncUploads: boolean
}

/** The web site: HTTPS (browser client and WebDAV) on every node, optional plain HTTP behind a TLS-terminating balancer. */
export interface WebSite {
  /** Serve HTTPS (and `httpPort` when set); off stops both listeners. */
  enabled: boolean
  /** HTTPS port, the cluster's TLS certificate (serviceIdentity.tlsCert). */
  httpsPort: number
  /** Plain HTTP port, or null for none (for a load balancer that terminates TLS, and for tests). */
  httpPort: number | null
  /** PROXY protocol on the web listeners (HAProxy `send-proxy-v2`). */
  proxyProtocol: ProxyProtocolSettings
  /** Peers whose X-Forwarded-For header is believed (HTTP-mode load balancers); from anyone else it is ignored. */
  trustedProxies: string[]
  /** Per-user session epoch: a session token carries the epoch it was issued under; logout bumps it. */
  sessionEpochs: Record<string, number>
}

/** One session-signing key (HMAC-SHA256). */
export interface WebSigningKey {
  /** Short random id carried in every token it signed. */
  id: string
  /** base64 secret (32 bytes). */
  secret: string
  createdAt: string
}

/** The web session key set: `currentKeyId` signs, every key listed verifies (old ones are dropped after their tokens expire). */
export interface WebSigningKeys {
  currentKeyId: string
  keys: WebSigningKey[]
}

export type Permission = 'list' | 'download' | 'upload' | 'overwrite' | 'delete' | 'mkdir' | 'rename' | 'chmod'
export const ALL_PERMISSIONS: Permission[] = ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod']

/** A file-service user. */
export interface User {
  name: string
  /** scrypt hash (`scrypt$N$r$p$salt$hash`), or null for key-only users. */
  passwordHash: string | null
  /** OpenSSH public keys (`ssh-ed25519 AAAA… comment`). */
  publicKeys: string[]
  /** Home, relative to the node's storage root (`/alice` → `<storage>/alice`). */
  home: string
  permissions: Permission[]
  disabled: boolean
}

/** An administrator of the cluster (admin endpoint). */
export interface AdminUser {
  name: string
  passwordHash: string | null
  publicKeys: string[]
}

/** A registered secondary. */
export interface ServerEntry {
  nodeId: string
  host: string
  port: number
  /** Pinned SHA256 fingerprint of its admin host key. */
  fingerprint: string
  /** Its cluster key: a registered member may authenticate as `cluster` (epochs decide what it may apply). */
  clusterPublicKey: string
  addedAt: string
}

/** Who made the last change, from where (the audit trail keeps all of them). */
export interface ChangeRecord {
  by: string
  from: string
  at: string
  summary: string
}

/** A member that gives disk to the striped FTP cluster (stripe.md). */
export interface StripeNode {
  nodeId: string
  /** Its admin endpoint (as in `servers` / `primary`): the gateway's kept-open link goes there. */
  host: string
  port: number
  /** Operator cap in bytes, or null: capacity is then the disk's free space plus what the stripe already uses. */
  capacityBytes: number | null
  /** `active` takes new files; `draining` is being emptied by `stripe remove-node` and takes none. */
  state: 'active' | 'draining'
}

/** The striped FTP cluster: one gateway presents the storage nodes' disks as one FTP (and SFTP) server. */
export interface StripeSettings {
  enabled: boolean
  /** The member serving the virtual tree (its admin address), or null while disabled. */
  gateway: {nodeId: string; host: string; port: number} | null
  /** The gateway's FTP port (explicit FTPS on the same port). */
  port: number
  /** The gateway's SFTP port for the same virtual tree (relayed). */
  sftpPort: number
  /** Copies of every file, on distinct nodes; an upload is acknowledged only when all are durable. */
  replicas: number
  /** A node down longer than this has its files copied from surviving replicas until each has `replicas` again. */
  reReplicateAfterSeconds: number
  /** Bytes per second per node on the data plane (shared disks and links), or null for no cap. */
  nodeBandwidthLimit: number | null
  /** Placement never fills a node below this much free space. */
  freeSpaceFloorBytes: number
  nodes: StripeNode[]
}

export interface ClusterConfig {
  schemaVersion: number
  /** Random id of the cluster, fixed at `node init` of the node that became primary. */
  clusterId: string
  /** Incremented by `promote`: fences a stale primary. */
  epoch: number
  /** Incremented by every change. */
  revision: number
  /** The primary (its admin address, cluster key and pinned host-key fingerprint), or null while standalone. */
  primary: {nodeId: string; host: string; port: number; clusterPublicKey: string; fingerprint: string} | null
  sync: SyncSettings
  servers: ServerEntry[]
  sites: {admin: AdminSite; files: FilesSite; web: WebSite}
  users: User[]
  adminUsers: AdminUser[]
  /** Cluster-wide identity of the files site, the same on every node behind a load balancer. */
  serviceIdentity: {
    /** OpenSSH private key of the files-site SFTP host key (secret). */
    sftpHostKey: string
    /** PEM certificate and private key (secret) for FTPS. */
    tlsCert: string
    tlsKey: string
    /** Web session signing keys (secrets), generated by the primary; empty until the primary first starts its web site. */
    webSigningKeys: WebSigningKeys
  }
  defender: DefenderSettings
  limits: LimitSettings
  stripe: StripeSettings
  lastChange: ChangeRecord
  /**
   * Where each epoch began (its first revision), newest last, bounded: a demoted node tells from it which of
   * its own revisions the new primary never had (they go to config/diverged/). Empty before the first promote.
   */
  epochs: EpochStart[]
  /** What the CLI requires of new admin and file-user passwords (it hashes them; nodes only see hashes). */
  passwordPolicy: PasswordPolicy
}

/** Optional in stored documents (older ones lack it): filled from DEFAULT_PASSWORD_POLICY. */
export interface PasswordPolicy {
  /** Minimum length of a new password, in characters (default 12). */
  minLength: number
}

/** The first revision of an epoch (the one `promote` wrote). */
export interface EpochStart {
  epoch: number
  revision: number
}

/**
 * When a change counts as committed (acknowledged): `majority` once more than half of the members (the
 * primary included) hold it durably, `primary` once the primary alone has it. `auto`: majority with 3 or
 * more members, primary with 2.
 */
export type CommitPolicy = 'auto' | 'majority' | 'primary'
export const COMMIT_POLICIES: readonly CommitPolicy[] = ['auto', 'majority', 'primary']

export interface SyncSettings {
  enabled: boolean
  intervalSeconds: number
  commit: CommitPolicy
}

/** Fields holding secrets: redacted when an admin reads the configuration unless asked for explicitly. */
export const SECRET_FIELDS = ['serviceIdentity.sftpHostKey', 'serviceIdentity.tlsKey', 'serviceIdentity.webSigningKeys.keys[].secret'] as const
export const REDACTED = '<redacted>'

export class ConfigValidationError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`)
    this.name = 'ConfigValidationError'
  }
}

type Obj = Record<string, unknown>

function fail(field: string, problem: string): never {
  throw new ConfigValidationError(field, problem)
}
function obj(v: unknown, f: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(f, `expected an object, got ${describe(v)}`)
  return v as Obj
}
function arr(v: unknown, f: string): unknown[] {
  if (!Array.isArray(v)) fail(f, `expected an array, got ${describe(v)}`)
  return v
}
function str(v: unknown, f: string, nonEmpty = true): string {
  if (typeof v !== 'string') fail(f, `expected a string, got ${describe(v)}`)
  if (nonEmpty && v === '') fail(f, 'must not be empty')
  return v
}
function bool(v: unknown, f: string): boolean {
  if (typeof v !== 'boolean') fail(f, `expected true or false, got ${describe(v)}`)
  return v
}
function int(v: unknown, f: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(f, `expected an integer, got ${describe(v)}`)
  if (v < min || v > max) fail(f, `${v} is out of range ${min}-${max}`)
  return v
}
function num(v: unknown, f: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(f, `expected a number, got ${describe(v)}`)
  if (v < min || v > max) fail(f, `${v} is out of range ${min}-${max}`)
  return v
}
function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"`
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`
}
function nullableStr(v: unknown, f: string): string | null {
  return v === null ? null : str(v, f)
}
function keys(o: Obj, f: string, allowed: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`${f}.${k}`, 'unknown field')
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/
const HASH_RE = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/
const PUBKEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/

function ipRules(v: unknown, f: string): IpRule[] {
  return arr(v, f).map((r, i) => {
    const o = obj(r, `${f}[${i}]`)
    keys(o, `${f}[${i}]`, ['action', 'cidr'])
    if (o.action !== 'allow' && o.action !== 'deny') fail(`${f}[${i}].action`, `expected "allow" or "deny", got ${describe(o.action)}`)
    const cidr = str(o.cidr, `${f}[${i}].cidr`)
    try {
      parseCidr(cidr)
    } catch (error) {
      fail(`${f}[${i}].cidr`, (error as Error).message)
    }
    return {action: o.action, cidr}
  })
}

function proxyProtocol(v: unknown, f: string): ProxyProtocolSettings {
  // documents written before PROXY support have no such field: it was off
  if (v === undefined) return {enabled: false, trustedProxies: []}
  const o = obj(v, f)
  keys(o, f, ['enabled', 'trustedProxies'])
  const enabled = bool(o.enabled, `${f}.enabled`)
  const trustedProxies = arr(o.trustedProxies, `${f}.trustedProxies`).map((c, i) => {
    const cidr = str(c, `${f}.trustedProxies[${i}]`)
    try {
      parseCidr(cidr)
    } catch (error) {
      fail(`${f}.trustedProxies[${i}]`, (error as Error).message)
    }
    return cidr
  })
  if (enabled && trustedProxies.length === 0) fail(`${f}.trustedProxies`, 'name at least one load balancer address when enabled (every connection would be dropped)')
  return {enabled, trustedProxies}
}

function cidrList(v: unknown, f: string): string[] {
  return arr(v, f).map((c, i) => {
    const cidr = str(c, `${f}[${i}]`)
    try {
      parseCidr(cidr)
    } catch (error) {
      fail(`${f}[${i}]`, (error as Error).message)
    }
    return cidr
  })
}

/** The web site; documents written before it existed have none: HTTPS on 8443, no plain HTTP. */
function webSite(v: unknown, f: string): WebSite {
  if (v === undefined) return {enabled: true, httpsPort: 8443, httpPort: null, proxyProtocol: {enabled: false, trustedProxies: []}, trustedProxies: [], sessionEpochs: {}}
  const o = obj(v, f)
  keys(o, f, ['enabled', 'httpsPort', 'httpPort', 'proxyProtocol', 'trustedProxies', 'sessionEpochs'])
  const epochs = o.sessionEpochs === undefined ? {} : obj(o.sessionEpochs, `${f}.sessionEpochs`)
  const sessionEpochs: Record<string, number> = {}
  for (const [name, n] of Object.entries(epochs)) sessionEpochs[name] = int(n, `${f}.sessionEpochs.${name}`, 0, Number.MAX_SAFE_INTEGER)
  return {
    enabled: o.enabled === undefined ? true : bool(o.enabled, `${f}.enabled`),
    httpsPort: o.httpsPort === undefined ? 8443 : int(o.httpsPort, `${f}.httpsPort`, 1, 65535),
    httpPort: o.httpPort === undefined || o.httpPort === null ? null : int(o.httpPort, `${f}.httpPort`, 1, 65535),
    proxyProtocol: proxyProtocol(o.proxyProtocol, `${f}.proxyProtocol`),
    trustedProxies: o.trustedProxies === undefined ? [] : cidrList(o.trustedProxies, `${f}.trustedProxies`),
    sessionEpochs,
  }
}

/** Session signing keys; absent in older documents (the primary generates a set when its web site starts). */
function webSigningKeys(v: unknown, f: string): WebSigningKeys {
  if (v === undefined) return {currentKeyId: '', keys: []}
  const o = obj(v, f)
  keys(o, f, ['currentKeyId', 'keys'])
  const list = arr(o.keys, `${f}.keys`).map((k, i) => {
    const kf = `${f}.keys[${i}]`
    const ko = obj(k, kf)
    keys(ko, kf, ['id', 'secret', 'createdAt'])
    const id = str(ko.id, `${kf}.id`)
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) fail(`${kf}.id`, 'expected 1-32 letters, digits, "_" or "-"')
    const secret = str(ko.secret, `${kf}.secret`)
    if (secret === REDACTED) fail(`${kf}.secret`, 'holds "<redacted>": read the configuration with secrets before writing it back')
    if (Buffer.from(secret, 'base64').length < 32) fail(`${kf}.secret`, 'expected at least 32 bytes, base64')
    return {id, secret, createdAt: str(ko.createdAt, `${kf}.createdAt`)}
  })
  const currentKeyId = str(o.currentKeyId, `${f}.currentKeyId`, list.length > 0)
  if (list.length > 0 && !list.some((k) => k.id === currentKeyId)) fail(`${f}.currentKeyId`, `"${currentKeyId}" is not one of the keys`)
  return {currentKeyId, keys: list}
}

function stripeSettings(v: unknown, f: string): StripeSettings {
  // documents written before the striped cluster have no such field: it was off
  if (v === undefined) return defaultStripeSettings()
  const o = obj(v, f)
  keys(o, f, ['enabled', 'gateway', 'port', 'sftpPort', 'replicas', 'reReplicateAfterSeconds', 'nodeBandwidthLimit', 'freeSpaceFloorBytes', 'nodes'])
  let gateway: StripeSettings['gateway'] = null
  if (o.gateway !== null) {
    const g = obj(o.gateway, `${f}.gateway`)
    keys(g, `${f}.gateway`, ['nodeId', 'host', 'port'])
    gateway = {nodeId: str(g.nodeId, `${f}.gateway.nodeId`), host: str(g.host, `${f}.gateway.host`), port: int(g.port, `${f}.gateway.port`, 1, 65535)}
  }
  const nodes = arr(o.nodes, `${f}.nodes`).map((n, i) => {
    const nf = `${f}.nodes[${i}]`
    const no = obj(n, nf)
    keys(no, nf, ['nodeId', 'host', 'port', 'capacityBytes', 'state'])
    if (no.state !== 'active' && no.state !== 'draining') fail(`${nf}.state`, `expected "active" or "draining", got ${describe(no.state)}`)
    return {
      nodeId: str(no.nodeId, `${nf}.nodeId`),
      host: str(no.host, `${nf}.host`),
      port: int(no.port, `${nf}.port`, 1, 65535),
      capacityBytes: no.capacityBytes === null ? null : int(no.capacityBytes, `${nf}.capacityBytes`, 1, Number.MAX_SAFE_INTEGER),
      state: no.state,
    } satisfies StripeNode
  })
  const seen = new Set<string>()
  nodes.forEach((n, i) => {
    if (seen.has(n.nodeId)) fail(`${f}.nodes[${i}].nodeId`, `node ${n.host}:${n.port} is listed twice`)
    seen.add(n.nodeId)
  })
  const s: StripeSettings = {
    enabled: bool(o.enabled, `${f}.enabled`),
    gateway,
    port: int(o.port, `${f}.port`, 1, 65535),
    sftpPort: int(o.sftpPort, `${f}.sftpPort`, 1, 65535),
    replicas: int(o.replicas, `${f}.replicas`, 1, 8),
    reReplicateAfterSeconds: int(o.reReplicateAfterSeconds, `${f}.reReplicateAfterSeconds`, 1, 86_400 * 30),
    nodeBandwidthLimit: o.nodeBandwidthLimit === null ? null : int(o.nodeBandwidthLimit, `${f}.nodeBandwidthLimit`, 1024, Number.MAX_SAFE_INTEGER),
    freeSpaceFloorBytes: int(o.freeSpaceFloorBytes, `${f}.freeSpaceFloorBytes`, 0, Number.MAX_SAFE_INTEGER),
    nodes,
  }
  if (s.enabled && s.gateway === null) fail(`${f}.gateway`, 'name the gateway when the striped cluster is enabled (cluster stripe enable HOST)')
  if (s.port === s.sftpPort) fail(`${f}.sftpPort`, `port ${s.port} is already used by ${f}.port`)
  return s
}

/** Off, replicas 1, the ports of stripe.md. */
export function defaultStripeSettings(): StripeSettings {
  return {
    enabled: false,
    gateway: null,
    port: 2100,
    sftpPort: 2200,
    replicas: 1,
    reReplicateAfterSeconds: 300,
    nodeBandwidthLimit: null,
    freeSpaceFloorBytes: 64 * 1024 * 1024,
    nodes: [],
  }
}

function passwordHash(v: unknown, f: string): string | null {
  const h = nullableStr(v, f)
  if (h !== null && !HASH_RE.test(h)) fail(f, 'expected an scrypt hash (scrypt$N$r$p$salt$hash); clear-text passwords are never stored')
  return h
}

function publicKeys(v: unknown, f: string): string[] {
  return arr(v, f).map((k, i) => {
    const s = str(k, `${f}[${i}]`).trim()
    if (!PUBKEY_RE.test(s)) fail(`${f}[${i}]`, 'expected an OpenSSH public key line ("ssh-ed25519 AAAA… comment")')
    return s
  })
}

function uniqueNames(list: {name: string}[], f: string): void {
  const seen = new Set<string>()
  list.forEach((u, i) => {
    if (seen.has(u.name)) fail(`${f}[${i}].name`, `duplicate name "${u.name}"`)
    seen.add(u.name)
  })
}

/** Validates an untrusted document and returns it typed; throws ConfigValidationError naming the field. */
export function validateConfig(input: unknown): ClusterConfig {
  const c = obj(input, 'config')
  keys(c, 'config', [
    'schemaVersion', 'clusterId', 'epoch', 'revision', 'primary', 'sync', 'servers', 'sites', 'users',
    'adminUsers', 'serviceIdentity', 'defender', 'limits', 'stripe', 'lastChange', 'baseRevision', 'epochs',
    'passwordPolicy',
  ])
  const schemaVersion = int(c.schemaVersion, 'schemaVersion', 1, 1_000_000)
  if (schemaVersion > SCHEMA_VERSION) {
    fail('schemaVersion', `${schemaVersion} is newer than this node understands (${SCHEMA_VERSION}); upgrade the node first`)
  }
  const clusterId = str(c.clusterId, 'clusterId')
  if (!/^[0-9a-f]{8,64}$/.test(clusterId)) fail('clusterId', 'expected 8-64 hex digits')
  const epoch = int(c.epoch, 'epoch', 1, Number.MAX_SAFE_INTEGER)
  const revision = int(c.revision, 'revision', 1, Number.MAX_SAFE_INTEGER)

  let primary: ClusterConfig['primary'] = null
  if (c.primary !== null) {
    const p = obj(c.primary, 'primary')
    keys(p, 'primary', ['nodeId', 'host', 'port', 'clusterPublicKey', 'fingerprint'])
    primary = {
      nodeId: str(p.nodeId, 'primary.nodeId'),
      host: str(p.host, 'primary.host'),
      port: int(p.port, 'primary.port', 1, 65535),
      clusterPublicKey: publicKeys([p.clusterPublicKey], 'primary.clusterPublicKey')[0],
      fingerprint: str(p.fingerprint, 'primary.fingerprint'),
    }
  }

  const s = obj(c.sync, 'sync')
  keys(s, 'sync', ['enabled', 'intervalSeconds', 'commit'])
  const sync: SyncSettings = {enabled: bool(s.enabled, 'sync.enabled'), intervalSeconds: int(s.intervalSeconds, 'sync.intervalSeconds', 1, 86_400), commit: commitPolicy(s.commit)}
  const epochs = epochStarts(c.epochs)

  const servers = arr(c.servers, 'servers').map((e, i) => {
    const f = `servers[${i}]`
    const o = obj(e, f)
    keys(o, f, ['nodeId', 'host', 'port', 'fingerprint', 'clusterPublicKey', 'addedAt'])
    return {
      nodeId: str(o.nodeId, `${f}.nodeId`),
      host: str(o.host, `${f}.host`),
      port: int(o.port, `${f}.port`, 1, 65535),
      fingerprint: str(o.fingerprint, `${f}.fingerprint`),
      clusterPublicKey: publicKeys([o.clusterPublicKey], `${f}.clusterPublicKey`)[0],
      addedAt: str(o.addedAt, `${f}.addedAt`),
    }
  })

  const sitesObj = obj(c.sites, 'sites')
  keys(sitesObj, 'sites', ['admin', 'files', 'web'])
  const a = obj(sitesObj.admin, 'sites.admin')
  keys(a, 'sites.admin', ['port', 'ipFilter'])
  const admin: AdminSite = {port: int(a.port, 'sites.admin.port', 1, 65535), ipFilter: ipRules(a.ipFilter, 'sites.admin.ipFilter')}
  const fl = obj(sitesObj.files, 'sites.files')
  keys(fl, 'sites.files', ['sftp', 'ftp', 'ftps', 'ipFilter', 'proxyProtocol', 'syncUploads'])
  const sf = obj(fl.sftp, 'sites.files.sftp')
  keys(sf, 'sites.files.sftp', ['enabled', 'port'])
  const ft = obj(fl.ftp, 'sites.files.ftp')
  keys(ft, 'sites.files.ftp', ['enabled', 'port', 'pasvPortMin', 'pasvPortMax', 'requireTls', 'requireTlsSessionReuse'])
  const fs = obj(fl.ftps, 'sites.files.ftps')
  keys(fs, 'sites.files.ftps', ['enabled', 'port'])
  const files: FilesSite = {
    sftp: {enabled: bool(sf.enabled, 'sites.files.sftp.enabled'), port: int(sf.port, 'sites.files.sftp.port', 1, 65535)},
    ftp: {
      enabled: bool(ft.enabled, 'sites.files.ftp.enabled'),
      port: int(ft.port, 'sites.files.ftp.port', 1, 65535),
      pasvPortMin: int(ft.pasvPortMin, 'sites.files.ftp.pasvPortMin', 1024, 65535),
      pasvPortMax: int(ft.pasvPortMax, 'sites.files.ftp.pasvPortMax', 1024, 65535),
      requireTls: bool(ft.requireTls, 'sites.files.ftp.requireTls'),
      // documents written before the switch existed had the check always on
      requireTlsSessionReuse: ft.requireTlsSessionReuse === undefined ? true : bool(ft.requireTlsSessionReuse, 'sites.files.ftp.requireTlsSessionReuse'),
    },
    ftps: {enabled: bool(fs.enabled, 'sites.files.ftps.enabled'), port: int(fs.port, 'sites.files.ftps.port', 1, 65535)},
    ipFilter: ipRules(fl.ipFilter, 'sites.files.ipFilter'),
    proxyProtocol: proxyProtocol(fl.proxyProtocol, 'sites.files.proxyProtocol'),
    // documents written before the setting existed: durable, the default
    syncUploads: fl.syncUploads === undefined ? true : bool(fl.syncUploads, 'sites.files.syncUploads'),
  }
  const web = webSite(sitesObj.web, 'sites.web')
  if (files.ftp.pasvPortMax < files.ftp.pasvPortMin) {
    fail('sites.files.ftp.pasvPortMax', `must be ≥ pasvPortMin (${files.ftp.pasvPortMin})`)
  }
  const ports: [string, number, boolean][] = [
    ['sites.admin.port', admin.port, true],
    ['sites.files.sftp.port', files.sftp.port, files.sftp.enabled],
    ['sites.files.ftp.port', files.ftp.port, files.ftp.enabled],
    ['sites.files.ftps.port', files.ftps.port, files.ftps.enabled],
    ['sites.web.httpsPort', web.httpsPort, web.enabled],
    ['sites.web.httpPort', web.httpPort ?? 0, web.enabled && web.httpPort !== null],
  ]
  const used = new Map<number, string>()
  for (const [f, p, on] of ports) {
    if (!on) continue
    if (used.has(p)) fail(f, `port ${p} is already used by ${used.get(p)}`)
    used.set(p, f)
  }

  const users = arr(c.users, 'users').map((u, i) => {
    const f = `users[${i}]`
    const o = obj(u, f)
    keys(o, f, ['name', 'passwordHash', 'publicKeys', 'home', 'permissions', 'disabled'])
    const name = str(o.name, `${f}.name`)
    if (!NAME_RE.test(name)) fail(`${f}.name`, 'letters, digits, "_", ".", "@", "-" only, at most 64')
    const home = str(o.home, `${f}.home`)
    if (!home.startsWith('/') || home.split('/').some((p) => p === '..') || home.includes('\0') || home.includes('\\')) {
      fail(`${f}.home`, 'expected an absolute path under the storage root, without ".." or backslashes')
    }
    const permissions = arr(o.permissions, `${f}.permissions`).map((p, j) => {
      if (!ALL_PERMISSIONS.includes(p as Permission)) fail(`${f}.permissions[${j}]`, `expected one of ${ALL_PERMISSIONS.join(', ')}`)
      return p as Permission
    })
    return {
      name,
      passwordHash: passwordHash(o.passwordHash, `${f}.passwordHash`),
      publicKeys: publicKeys(o.publicKeys, `${f}.publicKeys`),
      home,
      permissions,
      disabled: bool(o.disabled, `${f}.disabled`),
    }
  })
  uniqueNames(users, 'users')

  const adminUsers = arr(c.adminUsers, 'adminUsers').map((u, i) => {
    const f = `adminUsers[${i}]`
    const o = obj(u, f)
    keys(o, f, ['name', 'passwordHash', 'publicKeys'])
    const name = str(o.name, `${f}.name`)
    if (!NAME_RE.test(name)) fail(`${f}.name`, 'letters, digits, "_", ".", "@", "-" only, at most 64')
    if (name === 'cluster') fail(`${f}.name`, '"cluster" is reserved for the primary\'s cluster key')
    return {name, passwordHash: passwordHash(o.passwordHash, `${f}.passwordHash`), publicKeys: publicKeys(o.publicKeys, `${f}.publicKeys`)}
  })
  uniqueNames(adminUsers, 'adminUsers')
  if (adminUsers.length === 0) fail('adminUsers', 'at least one admin user is required (or no one could administer the node)')

  const si = obj(c.serviceIdentity, 'serviceIdentity')
  keys(si, 'serviceIdentity', ['sftpHostKey', 'tlsCert', 'tlsKey', 'webSigningKeys'])
  const serviceIdentity = {
    sftpHostKey: str(si.sftpHostKey, 'serviceIdentity.sftpHostKey'),
    tlsCert: str(si.tlsCert, 'serviceIdentity.tlsCert'),
    tlsKey: str(si.tlsKey, 'serviceIdentity.tlsKey'),
    webSigningKeys: {currentKeyId: '', keys: []} as WebSigningKeys,
  }
  if (serviceIdentity.sftpHostKey === REDACTED || serviceIdentity.tlsKey === REDACTED) {
    fail('serviceIdentity', 'holds "<redacted>": read the configuration with secrets (cluster config show --show-secrets) before writing it back')
  }
  if (!serviceIdentity.tlsCert.includes('BEGIN CERTIFICATE')) fail('serviceIdentity.tlsCert', 'expected a PEM certificate')
  serviceIdentity.webSigningKeys = webSigningKeys(si.webSigningKeys, 'serviceIdentity.webSigningKeys')

  const d = obj(c.defender, 'defender')
  keys(d, 'defender', ['threshold', 'failedLoginScore', 'windowSeconds', 'banSeconds', 'banGrowth', 'failDelayMs'])
  const defender: DefenderSettings = {
    threshold: int(d.threshold, 'defender.threshold', 1, 1_000_000),
    failedLoginScore: int(d.failedLoginScore, 'defender.failedLoginScore', 0, 1_000_000),
    windowSeconds: int(d.windowSeconds, 'defender.windowSeconds', 1, 86_400 * 7),
    banSeconds: int(d.banSeconds, 'defender.banSeconds', 1, 86_400 * 30),
    banGrowth: num(d.banGrowth, 'defender.banGrowth', 1, 100),
    failDelayMs: int(d.failDelayMs, 'defender.failDelayMs', 0, 10_000),
  }
  const l = obj(c.limits, 'limits')
  keys(l, 'limits', ['perAddress', 'total', 'unauthenticatedPerAddress', 'loginGraceSeconds', 'maxAuthTries', 'idleTimeoutSeconds', 'sessionsPerConnection', 'handlesPerConnection', 'descriptorsPerUser'])
  const limits: LimitSettings = {
    perAddress: int(l.perAddress, 'limits.perAddress', 1, 1_000_000),
    total: int(l.total, 'limits.total', 1, 10_000_000),
    unauthenticatedPerAddress: int(l.unauthenticatedPerAddress, 'limits.unauthenticatedPerAddress', 1, 1_000_000),
    loginGraceSeconds: int(l.loginGraceSeconds, 'limits.loginGraceSeconds', 1, 3600),
    maxAuthTries: int(l.maxAuthTries, 'limits.maxAuthTries', 1, 100),
    idleTimeoutSeconds: int(l.idleTimeoutSeconds, 'limits.idleTimeoutSeconds', 1, 86_400),
    sessionsPerConnection: int(l.sessionsPerConnection ?? R.sessionsPerConnection, 'limits.sessionsPerConnection', 1, 1000),
    handlesPerConnection: int(l.handlesPerConnection ?? R.handlesPerConnection, 'limits.handlesPerConnection', 1, 1_000_000),
    descriptorsPerUser: int(l.descriptorsPerUser ?? R.descriptorsPerUser, 'limits.descriptorsPerUser', 4, 10_000_000),
  }
  const stripe = stripeSettings(c.stripe, 'stripe')
  if (stripe.enabled) {
    for (const [f, p] of [['stripe.port', stripe.port], ['stripe.sftpPort', stripe.sftpPort]] as const) {
      if (used.has(p)) fail(f, `port ${p} is already used by ${used.get(p)}`)
    }
  }
  const lc = obj(c.lastChange, 'lastChange')
  keys(lc, 'lastChange', ['by', 'from', 'at', 'summary'])
  const lastChange = {
    by: str(lc.by, 'lastChange.by'),
    from: str(lc.from, 'lastChange.from'),
    at: str(lc.at, 'lastChange.at'),
    summary: str(lc.summary, 'lastChange.summary', false),
  }
  for (const [i, e] of servers.entries()) if (isIP(e.host) === 0 && !/^[A-Za-z0-9.-]+$/.test(e.host)) fail(`servers[${i}].host`, 'expected an IP address or host name')

  const passwordPolicy = passwordPolicyOf(c.passwordPolicy)

  return {
    schemaVersion, clusterId, epoch, revision, primary, sync, servers, sites: {admin, files, web}, users, adminUsers,
    serviceIdentity, defender, limits, stripe, lastChange, epochs, passwordPolicy,
  }
}

// Accepted when absent (documents from before commit policies): `auto`.
function commitPolicy(v: unknown): CommitPolicy {
  if (v === undefined) return 'auto'
  if (typeof v !== 'string' || !(COMMIT_POLICIES as readonly string[]).includes(v)) fail('sync.commit', `expected one of ${COMMIT_POLICIES.join(', ')}, got ${describe(v)}`)
  return v as CommitPolicy
}

// Accepted when absent (documents from before epoch records): no promote recorded.
function epochStarts(v: unknown): EpochStart[] {
  if (v === undefined) return []
  return arr(v, 'epochs').map((e, i) => {
    const o = obj(e, `epochs[${i}]`)
    keys(o, `epochs[${i}]`, ['epoch', 'revision'])
    return {epoch: int(o.epoch, `epochs[${i}].epoch`, 1, Number.MAX_SAFE_INTEGER), revision: int(o.revision, `epochs[${i}].revision`, 1, Number.MAX_SAFE_INTEGER)}
  })
}

/** passwordPolicy: absent in older documents → the default. */
function passwordPolicyOf(v: unknown): PasswordPolicy {
  if (v === undefined) return {minLength: DEFAULT_PASSWORD_MIN_LENGTH}
  const o = obj(v, 'passwordPolicy')
  keys(o, 'passwordPolicy', ['minLength'])
  return {minLength: o.minLength === undefined ? DEFAULT_PASSWORD_MIN_LENGTH : int(o.minLength, 'passwordPolicy.minLength', 1, 1024)}
}

/** Here, not in defaults.ts: defaults.ts imports this module (the filled default of an absent field). */
export const DEFAULT_PASSWORD_MIN_LENGTH = 12

/** A copy with secrets replaced by `<redacted>`. */
export function redactSecrets(config: ClusterConfig): ClusterConfig {
  const si = config.serviceIdentity
  const webSigningKeys = {...si.webSigningKeys, keys: si.webSigningKeys.keys.map((k) => ({...k, secret: REDACTED}))}
  return {...config, serviceIdentity: {...si, sftpHostKey: REDACTED, tlsKey: REDACTED, webSigningKeys}}
}
