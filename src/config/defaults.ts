// Defaults in one place: the configuration a fresh node starts with.
import {randomBytes} from 'node:crypto'
import {DEFAULT_ADMIN_PORT, DEFAULT_FTP_PORT, DEFAULT_FTPS_PORT, DEFAULT_SFTP_PORT} from '../protocol/index.js'
import {DEFAULT_ADMIN_FILTER, DEFAULT_FILES_FILTER} from '../net/ip-filter.js'
import {DEFAULT_RESOURCE_LIMITS} from './resource-limits.js'

import {ALL_PERMISSIONS, DEFAULT_PASSWORD_MIN_LENGTH, SCHEMA_VERSION, defaultStripeSettings, type ClusterConfig, type DefenderSettings, type LimitSettings} from './schema.js'

/** SFTPGo-like defender: 15 points in 30 min bans for 30 min, +50 % on repeats, 1 s delay after a failure. */
export const DEFAULT_DEFENDER: DefenderSettings = {
  threshold: 15,
  failedLoginScore: 1,
  windowSeconds: 1800,
  banSeconds: 1800,
  banGrowth: 1.5,
  failDelayMs: 1000,
}

export const DEFAULT_LIMITS: LimitSettings = {
  perAddress: 64,
  total: 2048,
  unauthenticatedPerAddress: 16,
  loginGraceSeconds: 30,
  maxAuthTries: 6,
  idleTimeoutSeconds: 900,
  ...DEFAULT_RESOURCE_LIMITS,
}

/** Off: a node answers clients directly until an operator puts it behind a load balancer that sends PROXY headers. */
export const DEFAULT_PROXY_PROTOCOL = {enabled: false, trustedProxies: [] as string[]}

/** HTTPS on 8443 on every node; plain HTTP off until an operator sets `sites.web.httpPort`. */
export const DEFAULT_WEB_HTTPS_PORT = 8443

/** A new random session-signing key (HMAC-SHA256, 32 bytes). */
export function newWebSigningKey(now = new Date()): {id: string; secret: string; createdAt: string} {
  return {id: randomBytes(6).toString('base64url'), secret: randomBytes(32).toString('base64'), createdAt: now.toISOString()}
}

export const DEFAULT_SYNC = {enabled: true, intervalSeconds: 60, commit: 'auto' as const}
/** New admin and file-user passwords: at least 12 characters (NIST SP 800-63B asks for 8+; we hash with scrypt). */
export const DEFAULT_PASSWORD_POLICY = {minLength: DEFAULT_PASSWORD_MIN_LENGTH}

export const DEFAULT_PASV_RANGE = {min: 50000, max: 50099}
export const DEFAULT_USER_PERMISSIONS = [...ALL_PERMISSIONS]

export interface DefaultConfigInput {
  adminUser: string
  adminPasswordHash: string | null
  adminPublicKeys?: string[]
  adminPort?: number
  sftpPort?: number
  ftpPort?: number
  ftpsPort?: number
  webHttpsPort?: number
  sftpHostKey: string
  tlsCert: string
  tlsKey: string
  by: string
}

function webKeySet(): {currentKeyId: string; keys: {id: string; secret: string; createdAt: string}[]} {
  const key = newWebSigningKey()
  return {currentKeyId: key.id, keys: [key]}
}

export function defaultConfig(input: DefaultConfigInput): ClusterConfig {
  return {
    schemaVersion: SCHEMA_VERSION,
    clusterId: randomBytes(8).toString('hex'),
    epoch: 1,
    revision: 1,
    primary: null,
    sync: {...DEFAULT_SYNC},
    servers: [],
    sites: {
      admin: {port: input.adminPort ?? DEFAULT_ADMIN_PORT, ipFilter: DEFAULT_ADMIN_FILTER.map((r) => ({...r}))},
      files: {
        sftp: {enabled: true, port: input.sftpPort ?? DEFAULT_SFTP_PORT},
        ftp: {
          enabled: true,
          port: input.ftpPort ?? DEFAULT_FTP_PORT,
          pasvPortMin: DEFAULT_PASV_RANGE.min,
          pasvPortMax: DEFAULT_PASV_RANGE.max,
          requireTls: false,
          requireTlsSessionReuse: true,
        },
        ftps: {enabled: true, port: input.ftpsPort ?? DEFAULT_FTPS_PORT},
        ipFilter: DEFAULT_FILES_FILTER.map((r) => ({...r})),
        proxyProtocol: {...DEFAULT_PROXY_PROTOCOL, trustedProxies: [...DEFAULT_PROXY_PROTOCOL.trustedProxies]},
        syncUploads: true,
      },
      web: {
        enabled: true,
        httpsPort: input.webHttpsPort ?? DEFAULT_WEB_HTTPS_PORT,
        httpPort: null,
        proxyProtocol: {...DEFAULT_PROXY_PROTOCOL, trustedProxies: []},
        trustedProxies: [],
        sessionEpochs: {},
      },
    },
    users: [],
    adminUsers: [{name: input.adminUser, passwordHash: input.adminPasswordHash, publicKeys: input.adminPublicKeys ?? []}],
    serviceIdentity: {sftpHostKey: input.sftpHostKey, tlsCert: input.tlsCert, tlsKey: input.tlsKey, webSigningKeys: webKeySet()},
    defender: {...DEFAULT_DEFENDER},
    limits: {...DEFAULT_LIMITS},
    stripe: defaultStripeSettings(),
    lastChange: {by: input.by, from: 'local', at: new Date().toISOString(), summary: 'node init'},
    epochs: [],
    passwordPolicy: {...DEFAULT_PASSWORD_POLICY},
  }
}
