// The admin-protocol contract (../shared/design/admin-protocol.md): the only module the CLI side and the
// daemon side share (with admin-client.ts, the client both the CLI and a primary use). Imports nothing else of ours.

/** Default ports; ports are cluster-wide, bind addresses node-local. */
export const DEFAULT_ADMIN_PORT = 14983
/** Largest configuration document (its serialized bytes) any member accepts: the primary refuses to commit a
 *  larger one, so a secondary never has to refuse a push. 200,000 users take about 80 MB. */
export const MAX_CONFIG_BYTES = 128 * 1024 * 1024
export const DEFAULT_HEALTH_PORT = 14980
export const DEFAULT_SFTP_PORT = 2222
export const DEFAULT_FTP_PORT = 2121
export const DEFAULT_FTPS_PORT = 2990

/** The SSH user the primary authenticates as, with its cluster key, to push configuration. */
export const CLUSTER_SSH_USER = 'cluster'

/** Paths of the admin endpoint's SFTP tree. */
export const PATHS = {
  status: '/status.json',
  config: '/config/current.json',
  /** The same document with the service identity's private keys: read only when asked for explicitly. */
  configWithSecrets: '/config/current-with-secrets.json',
  historyDir: '/config/history',
  /** Revisions a failover discarded on this node or sent to it by a demoted one: `EPOCH-REVISION.json`. */
  divergedDir: '/config/diverged',
  servers: '/servers.json',
  /** Configuration writes the node refused, newest first (`cluster config history --rejected`). */
  rejected: '/config/rejected.json',
} as const

/** Exec requests of the striped cluster, answered by the gateway (the CLI follows `stripe.gateway` there). */
export const STRIPE_EXEC_COMMANDS = ['stripe-status', 'stripe-rescan', 'stripe-verify', 'stripe-remove-node', 'stripe-rebalance'] as const

/** Exec requests the admin endpoint understands. */
export const EXEC_COMMANDS = ['status', 'add-server', 'remove-server', 'sync', 'probe', 'promote', 'rollback', 'demote', 'drain', 'bans', 'bans-clear', 'users-edit', ...STRIPE_EXEC_COMMANDS] as const
export type ExecCommand = (typeof EXEC_COMMANDS)[number]

export type Role = 'standalone' | 'primary' | 'secondary'
export type ServiceState = 'up' | 'down' | 'disabled' | 'starting' | 'draining'
export type SyncState = 'in-sync' | 'syncing' | 'stale' | 'unreachable' | 'refused'

/** `/status.json` and the `status` exec. */
export interface NodeStatus {
  nodeId: string
  version: string
  /** The newest configuration schema this node can read (rolling upgrades: the primary checks it). */
  schemaVersion: number
  role: Role
  clusterId: string
  epoch: number
  revision: number
  hash: string
  primary: {host: string; port: number; nodeId: string} | null
  lastSynchronized: string | null
  services: Record<string, ServiceState>
  uptimeSeconds: number
  bind: string
  draining: boolean
  /** This node's cluster public key (what it authenticates with when it is the primary). */
  clusterPublicKey: string
  /** SHA256 fingerprint of this node's admin host key. */
  hostKeyFingerprint: string
  /** The FTP listener as clients must reach it: control port, PASV address and range (node-local settings win). */
  ftp?: {enabled: boolean; port: number; advertise: string; pasvPortMin: number; pasvPortMax: number}
  /** The node's clock (ISO 8601) when it answered: diagnostics compare it with the caller's. */
  time: string
  /** The highest epoch this node promised to a `promote` candidate (it refuses pushes from older epochs). */
  promisedEpoch?: number
  /** On a primary: the outcome of the last committed change (who holds it). */
  lastCommit?: CommitReport | null
  /**
   * Problems the node knows about itself and how to fix them: a hand-edited current.json it refuses to serve,
   * a primary it cannot confirm, a secondary its primary does not list.
   */
  problems?: NodeProblem[]
  /** The file-service worker processes (absent when sessions run in the supervisor). */
  workers?: WorkerStatus[]
  /** The delta format this node applies (`apply-delta`, `stage` with `delta`); absent: full documents only. */
  deltaSync?: number
  /**
   * The format of `hash`: 2, sha256 over the document without its users and a digest of the users' digests
   * (config-text.ts); absent: 1, sha256 of the whole canonical JSON (versions before it). Hashes of different
   * formats are not compared.
   */
  hashFormat?: number
}

export interface NodeProblem {
  kind: 'hand-edited' | 'journal-set-aside' | 'unconfirmed-primary' | 'not-listed' | 'fenced'
  message: string
  hint: string
}

/**
 * What "acknowledged" meant for one change: the policy in effect, the members that hold it durably and the
 * ones that did not confirm (the CLI warns about them under the `primary` policy).
 */
export interface CommitReport {
  revision: number
  epoch: number
  policy: 'majority' | 'primary'
  members: number
  /** Members (HOST:PORT) that hold the change durably, the primary first. */
  confirmed: string[]
  /** Secondaries (HOST:PORT) that did not confirm it (yet). */
  missing: string[]
}

/** One file-service worker process of a node. */
export interface WorkerStatus {
  id: number
  pid: number | null
  state: 'starting' | 'up' | 'restarting' | 'stopped'
  /** Connections it holds now. */
  sessions: number
  /** CPU time it has used (user + system). */
  cpuSeconds: number
  rssBytes: number
  restarts: number
  lastExit: {reason: string; at: string} | null
}

/** One refused configuration write, as `/config/rejected.json` lists it. */
export interface RejectedWrite {
  /** ISO 8601 time of the refusal. */
  time: string
  by: string
  from: string
  /** The reason the writer was given ("code: message → hint"). */
  reason: string
}

/** `/config/rejected.json`: the newest refusals first; `kept` is how many the node keeps now. */
export interface RejectedDocument {
  kept: number
  rejected: RejectedWrite[]
}

/** One registered server as `/servers.json` and `cluster servers --json` show it. */
export interface ServerInfo {
  host: string
  port: number
  nodeId: string
  role: 'primary' | 'secondary'
  state: SyncState
  revision: number | null
  lastSynchronized: string | null
  error: string | null
  /** The node's software version, when known (a mismatch shows during rolling upgrades). */
  version?: string | null
  /** The last push or stage sent to it: a delta or the full document, and its size on the wire. */
  lastPush?: PushStat | null
}

/** One push or stage as the primary sent it. */
export interface PushStat {
  kind: 'push' | 'stage'
  mode: 'delta' | 'full'
  revision: number
  /** Bytes of the request: the delta's JSON or the full document. */
  bytes: number
  /** Why the full document went instead of a delta (no base, the base refused, too large), when it did. */
  reason?: string
}

/** The delta format of this version (`NodeStatus.deltaSync`); 2: its hashes are of format 2 (`hashFormat`). */
export const DELTA_FORMAT = 2

/** A configuration as a delta names it: epoch, revision and content hash (of format `hashFormat`). */
export interface ConfigRef {
  epoch: number
  revision: number
  hash: string
}

/**
 * A change sent as a patch against a revision the member holds (`apply-delta`, `stage`): `ops` turn the
 * `base` into the `target`, whose content hash the member checks before it uses the result. The operations
 * are config-patch.ts's: `set`/`remove` at a path, `insert` into a keyed array; a path step is a member name,
 * an index, or a selector `{"name": "alice"}` for an entry of an array of named entries.
 */
export interface ConfigDelta {
  format: number
  base: ConfigRef
  target: ConfigRef
  ops: unknown[]
}

export interface ServersDocument {
  revision: number
  epoch: number
  servers: ServerInfo[]
}

/** The shape of every error crossing the protocol; `code` decides the exit code. */
export interface ProtocolError {
  code: ErrorCode
  message: string
  hint?: string
}

export const ERROR_CODES = [
  'invalid', // the request or configuration is malformed or fails validation
  'conflict', // stale baseRevision
  'not-primary', // a change sent to a secondary
  'fenced', // a push from a primary with an older epoch or revision
  'unreachable', // DNS, TCP, timeout
  'auth', // authentication failed
  'host-key', // host key changed or not the expected one
  'filtered', // closed by an IP filter before the banner
  'banned', // closed before the banner because the address is banned after failed logins (the node said so)
  'refused', // the peer refused the operation for another reason
  'delta-base', // a delta's base is not the revision in effect there, or its result has another hash: send the full document
  'io', // disk full, permission, …
  'unknown-command',
  'internal',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

/** Exit codes of the CLI (cli.md). */
export const EXIT = {ok: 0, failed: 1, usage: 2, checkFailed: 3} as const

/** Error kind → CLI exit code; the one place this mapping lives. */
export function exitCodeFor(code: ErrorCode): number {
  return code === 'invalid' || code === 'unknown-command' ? EXIT.usage : EXIT.failed
}

/** Exec channel messages: newline-delimited JSON, progress events then one result. */
export interface ProgressEvent {
  event: 'progress'
  step: string
  message: string
  done?: boolean
}
export type ExecResult<T = unknown> = {result: T} | {error: ProtocolError}
export type ExecLine = ProgressEvent | ExecResult

/**
 * The members' kept-open session: one exec channel per primary→secondary link for the small requests of every
 * change (`stage` and `apply-delta` with a delta, `unstage`, `status`), so a change costs two JSON lines on it
 * instead of a channel opened and closed per request. Requests are `{"id", "command", "args"}` lines; each is
 * answered by `{"id", "result"}` or `{"id", "error"}`, in any order. Cluster key only; lines up to 1 MiB
 * (full documents still go by exec or SFTP).
 */
export const MEMBER_SESSION = 'member-session'
export const MEMBER_SESSION_MAX_LINE = 1024 * 1024
export interface SessionRequest {
  id: number
  command: string
  args: Record<string, unknown> | null
}
export type SessionReply = {id: number} & ExecResult

/** Exec status codes (the SSH channel's exit status). */
export const EXEC_EXIT = {ok: 0, failed: 1, badRequest: 2} as const

/** Arguments of the exec requests. */
export interface AddServerRequest {
  host: string
  port?: number
  username: string
  password?: string
  fingerprint?: string
  dryRun?: boolean
}
/** A configuration field that differs: `cluster config diff` and `add-server --dry-run`. */
export interface ConfigChangeInfo {
  path: string
  primary: unknown
  server: unknown
}

export interface AddServerResult {
  dryRun: boolean
  server: {nodeId: string; host: string; port: number; fingerprint: string; addedAt: string}
  revision: number
  /** Where the secondary keeps its previous configuration. */
  backup?: string
  changes?: ConfigChangeInfo[]
}

export interface RemoveServerResult {
  removed: {nodeId: string; host: string; port: number}
  revision: number
  released: boolean
  warning: string | null
}

export interface PromoteResult {
  epoch: number
  revision: number
  primary: string
  /** Members that accepted the new epoch (a majority unless forced). */
  acceptedBy: string[]
  /** True with `--force`: taken without a majority. */
  forced: boolean
}

/** `promote`: `force` takes the epoch without a majority (when a majority of members is lost for good). */
export interface PromoteRequest {
  force?: boolean
}

export interface HostPortRequest {
  host: string
  port?: number
}
export interface SyncRequest {
  host?: string
  port?: number
}
export interface SyncResult {
  host: string
  port: number
  state: SyncState
  revision: number | null
  error: string | null
}
/** `drain`: put a node in maintenance (true, the default) or take it out (false). */
export interface DrainRequest {
  enable?: boolean
}
/** One node's web site as `web-node` / `cluster web status --json` report it. */
export interface WebNodeStatus {
  nodeId: string
  host: string
  role: Role
  state: ServiceState
  httpsPort: number | null
  httpPort: number | null
  /** Distinct sessions used on this node in the last 20 minutes. */
  sessions: number
  /** The signing key id this node signs new sessions with. */
  keyId: string
  error: string | null
}

/** `web-status` exec on the primary: every node's web site. */
export interface WebStatusResult {
  currentKeyId: string
  nodes: WebNodeStatus[]
}

/** `web-rotate-keys` exec: the new current key and the keys still verifying. */
export interface WebRotateResult {
  currentKeyId: string
  keyIds: string[]
  revision: number
}

export interface DrainResult {
  nodeId: string
  draining: boolean
  /** False when the node was already in the requested state. */
  changed: boolean
}
/**
 * `users-edit` on the primary: one user changed without moving the configuration (the CLI's users add,
 * passwd and remove). `lookup` changes nothing. With `baseRevision`, refused as a conflict unless the
 * configuration is still at that revision (what a read-modify-write of current.json gives).
 */
export interface UsersEditRequest {
  action: 'lookup' | 'add' | 'passwd' | 'remove'
  name: string
  /** add, passwd: the scrypt hash made by the client (never a clear password); add: null for key-only. */
  passwordHash?: string | null
  publicKeys?: string[]
  home?: string
  permissions?: string[]
  /** add: an existing user of that name is left as it is (changed: false) instead of refused. */
  ifMissing?: boolean
  baseRevision?: number
  /** For history and audit; default "users ACTION NAME". */
  summary?: string
}
export interface UsersEditResult {
  revision: number
  changed: boolean
  /** The user after the change (remove: as it was; lookup: as it is), its hash shown as "<redacted>"; null: none. */
  user: {name: string; passwordHash: string | null; publicKeys: string[]; home: string; permissions: string[]; disabled: boolean} | null
  passwordPolicy: {minLength: number}
  /** Who holds the change (the commit report), when it made one. */
  commit: CommitReport | null
}

export interface RollbackRequest {
  revision: number
}

/** `bans` / `bans-clear`: this node only (`local`, what a primary asks each member) or every member (the primary). */
export interface BansRequest {
  scope?: 'local' | 'cluster'
}
export interface BansClearRequest extends BansRequest {
  /** One address, or every ban with `all`. */
  address?: string
  all?: boolean
}
/** One active ban on one node. */
export interface BanEntry {
  address: string
  /** The listener whose failed logins caused it: admin, sftp, ftp (null when unknown). */
  listener: string | null
  failures: number
  until: string
  secondsLeft: number
}
export interface NodeBans {
  host: string
  port: number
  nodeId: string | null
  bans: BanEntry[]
  /** The addresses lifted (`bans-clear`). */
  cleared?: string[]
  /** Set when the node could not be asked. */
  error: string | null
}
export interface BansResult {
  nodes: NodeBans[]
}

/**
 * The one plain-text line the admin endpoint sends a banned client before closing (RFC 4253 §4.2 allows
 * lines before the identification string; they must not start with "SSH-"). Clients show it as the error.
 */
export const BAN_LINE_PREFIX = 'ftpcluster: banned: '

export function banLine(address: string, node: string, until: string, failures: number): string {
  return `${BAN_LINE_PREFIX}${address} is banned from the admin endpoint of ${node} until ${until} after ${failures} failed login(s); to lift it: run from another address \`cluster bans clear ${address} --node ${node}\` (or wait until then)\r\n`
}

/** The message and hint of a ban line, or undefined when `text` does not start with one. */
export function parseBanLine(text: string): {message: string; hint: string} | undefined {
  if (!text.startsWith(BAN_LINE_PREFIX)) return undefined
  const line = text.slice(BAN_LINE_PREFIX.length).split(/\r?\n/)[0]
  const i = line.indexOf('; to lift it: ')
  return i < 0 ? {message: line, hint: 'wait for the ban to expire'} : {message: line.slice(0, i), hint: line.slice(i + '; to lift it: '.length)}
}

/** The identification of the files site's SFTP listener (the admin endpoint adds `_VERSION`): a wrong port. */
export const FILES_SFTP_IDENT = 'SSH-2.0-ftpcluster'

/** A probe check, as `cluster diagnose --json` shows it. */
export interface DiagnoseCheck {
  name: 'dns' | 'tcp' | 'ban' | 'ip-filter' | 'ssh-banner' | 'host-key' | 'auth' | 'sftp' | 'version' | 'clock' | 'ftp' | 'ftp-pasv' | 'cluster'
  ok: boolean
  detail: string
  hint?: string
}

/** Parses "HOST[:PORT]", "[v6]:PORT" or a bare IPv6 address; throws a message naming the input. */
export function parseHostPort(input: string, defaultPort = DEFAULT_ADMIN_PORT): {host: string; port: number} {
  const text = input.trim()
  if (text === '') throw new Error('empty address: expected HOST[:PORT]')
  let host = text
  let portText: string | undefined
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text)
  if (bracket) {
    host = bracket[1]
    portText = bracket[2]
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const i = text.lastIndexOf(':')
    host = text.slice(0, i)
    portText = text.slice(i + 1)
  }
  if (host === '' || /[\s/]/.test(host)) throw new Error(`malformed address "${input}": expected HOST[:PORT]`)
  let port = defaultPort
  if (portText !== undefined) {
    port = Number(portText)
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
      throw new Error(`malformed port in "${input}": expected 1-65535`)
    }
  }
  return {host, port}
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** An error with a protocol error code and a hint saying what to do; crosses the admin channel as is. */
export class OperationError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly hint?: string) {
    super(message)
    this.name = 'OperationError'
  }

  toJSON(): ProtocolError {
    return this.hint ? {code: this.code, message: this.message, hint: this.hint} : {code: this.code, message: this.message}
  }
}

/** OpenSSH-style SHA256 fingerprint of an SSH public key blob: "SHA256:base64-without-padding". */
export function fingerprintOf(publicKeyBlob: Buffer, hash: (data: Buffer) => Buffer): string {
  return `SHA256:${hash(publicKeyBlob).toString('base64').replace(/=+$/, '')}`
}

/** `cluster stripe status --json` and the gateway's `stripe-status` exec (issue #7's contract). */
export interface StripeStatus {
  /** The gateway's FTP address, HOST:PORT. */
  gateway: string
  replicas: number
  nodes: StripeNodeStatus[]
  /** Capacity, used and free over the nodes that are up; files: distinct files in the catalogue. */
  totals: {capacityBytes: number; usedBytes: number; freeBytes: number; files: number}
  /** Files with fewer than `replicas` copies on nodes that are up. */
  underReplicated: number
}
export interface StripeNodeStatus {
  host: string
  port: number
  state: 'up' | 'down' | 'draining'
  /** The smaller of the operator's cap and the disk's free space plus what the stripe uses (0 if never reached). */
  capacityBytes: number
  usedBytes: number
  freeBytes: number
  files: number
}
export interface StripeRescanResult {
  /** HOST:PORT of the nodes read, and of those that were down (their files keep their entries). */
  nodes: string[]
  skippedNodes: string[]
  files: number
  conflicts: number
  droppedEntries: number
}
export interface StripeVerifyResult {
  files: number
  copiesChecked: number
  /** Copies whose re-read size or SHA-256 differs from the catalogue's (actual null: the node has no such piece). */
  mismatches: {path: string; host: string; port: number; expected: {size: number; sha256: string | null}; actual: {size: number; sha256: string} | null}[]
  /** Copies on nodes that are down: not checked. */
  unchecked: number
}

/** `stripe-remove-node` on the gateway: drains a storage node (its admin address). `dryRun` only plans (and
 *  refuses when the other nodes cannot hold its files); `force` never contacts it (dead node). */
export interface StripeRemoveNodeRequest {
  host: string
  port: number
  force?: boolean
  dryRun?: boolean
}
export interface StripeDrainReport {
  /** HOST:PORT of the node drained. */
  node: string
  dryRun: boolean
  /** Files that had a copy on it. */
  files: number
  /** Copies made on the other nodes (dry run: to make), and their bytes. */
  copies: number
  bytes: number
  /** Its pieces deleted (0 with --force: the node is not contacted). */
  dropped: number
  /** Files whose only copy was on it (--force): listed (at most 1,000) and counted. */
  lost: string[]
  lostCount: number
  /** Files whose other copies are all on nodes that are down (--force): they come back with those nodes. */
  unavailable: string[]
  unavailableCount: number
  /** Copies that could not be made, and files a transfer kept busy: a re-run retries them. */
  failed: number
  busy: number
  /** Every file is safe elsewhere (or lost, with --force): the node may leave the configuration. */
  complete: boolean
}
/** `cluster stripe remove-node --json`. */
export interface StripeRemoveNodeResult {
  node: string
  /** It was a storage node and is not one any more. */
  removed: boolean
  /** The configuration revision that removed it (or the current one, when it was no storage node). */
  revision: number
  drain: StripeDrainReport | null
}
/** `stripe-rebalance` on the gateway and `cluster stripe rebalance --json`. */
export interface StripeRebalanceResult {
  moved: number
  bytes: number
  /** Moves that failed (copy or check): those files stay where they were. */
  failed: number
  /** max - min of used/capacity over the nodes that are up, before and after. */
  spreadBefore: number
  spreadAfter: number
  nodes: {host: string; port: number; capacityBytes: number; usedBytes: number}[]
}
