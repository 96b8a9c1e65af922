// `cluster apply -f FILE`: a declarative description of what the cluster should have, applied as one change.
// Listed users and admins are created or brought to the listed home/permissions/keys (a password only for a
// new account: hashes are salted, so "the same password" cannot be compared); IP filter lists given for a
// site replace that site's list; `sync` and `settings` (dotted paths) set values. Nothing listed is removed.
// Applying the same file again changes nothing, so it makes no new revision.
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {OperationError} from '../protocol/index.js'
import {ALL_PERMISSIONS, type ClusterConfig, type IpRule, type Permission} from '../config/schema.js'
import {DEFAULT_USER_PERMISSIONS} from '../config/defaults.js'
import {setPath} from './config-path.js'
import {SITES, checkCidr, type Site} from './ipfilter-edit.js'
import {parsePublicKeys} from './user-edit.js'

export interface AccountSpec {
  name: string
  /** The name of an environment variable holding the password (never the password itself in a file). */
  passwordEnv?: string
  /** OpenSSH public key files, relative to the spec file. */
  publicKeyFiles?: string[]
  home?: string
  permissions?: Permission[] | 'all' | 'none'
}

export interface ApplySpec {
  users?: AccountSpec[]
  admins?: AccountSpec[]
  ipFilter?: Partial<Record<Site, ({allow: string} | {deny: string} | IpRule)[]>>
  sync?: {enabled?: boolean; intervalSeconds?: number}
  settings?: Record<string, unknown>
}

/** A prepared account: keys read, password (if any) hashed only when the account is new. */
export interface Account {
  name: string
  password?: string
  publicKeys: string[]
  /** publicKeyFiles was given: the account's keys become exactly these. */
  keysGiven: boolean
  home?: string
  permissions?: Permission[]
}

export interface PreparedSpec {
  users: Account[]
  admins: Account[]
  ipFilter: Partial<Record<Site, IpRule[]>>
  sync: ApplySpec['sync']
  settings: Record<string, unknown>
}

const TOP = ['users', 'admins', 'ipFilter', 'sync', 'settings']

/** Reads YAML (or JSON, a subset of YAML) and checks its shape; errors name the file and the field. */
export async function loadSpec(file: string): Promise<PreparedSpec> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new OperationError('invalid', `-f: cannot read ${file} (${(error as NodeJS.ErrnoException).code})`)
  }
  let raw: unknown
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : (await import('yaml')).parse(text)
  } catch (error) {
    throw new OperationError('invalid', `${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`)
  }
  const bad = (field: string, what: string) => new OperationError('invalid', `${file}: ${field}: ${what}`, 'fields: users, admins, ipFilter.{admin,files}, sync, settings (see `cluster apply --help`)')
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('(top)', 'expected a mapping')
  const spec = raw as Record<string, unknown>
  for (const k of Object.keys(spec)) if (!TOP.includes(k)) throw bad(k, 'unknown field')
  const base = path.dirname(path.resolve(file))
  const accounts = async (list: unknown, field: string): Promise<Account[]> => {
    if (list === undefined) return []
    if (!Array.isArray(list)) throw bad(field, 'expected a list')
    return Promise.all(list.map(async (a: unknown, i): Promise<Account> => {
      const f = `${field}[${i}]`
      if (a === null || typeof a !== 'object') throw bad(f, 'expected a mapping')
      const o = a as Record<string, unknown>
      for (const k of Object.keys(o)) if (!['name', 'passwordEnv', 'publicKeyFiles', 'home', 'permissions'].includes(k)) throw bad(`${f}.${k}`, 'unknown field (passwords come from an environment variable: passwordEnv)')
      if (typeof o.name !== 'string' || o.name === '') throw bad(`${f}.name`, 'expected a name')
      let password: string | undefined
      if (o.passwordEnv !== undefined) {
        if (typeof o.passwordEnv !== 'string') throw bad(`${f}.passwordEnv`, 'expected the name of an environment variable')
        password = process.env[o.passwordEnv]
        if (password === undefined) throw bad(`${f}.passwordEnv`, `${o.passwordEnv} is not set`)
      }
      const keys: string[] = []
      for (const k of (o.publicKeyFiles as string[] | undefined) ?? []) {
        const keyFile = path.resolve(base, String(k))
        keys.push(...parsePublicKeys(await readFile(keyFile, 'utf8').catch(() => { throw bad(`${f}.publicKeyFiles`, `cannot read ${keyFile}`) }), keyFile))
      }
      let permissions: Permission[] | undefined
      if (o.permissions === 'all') permissions = [...ALL_PERMISSIONS]
      else if (o.permissions === 'none') permissions = []
      else if (o.permissions !== undefined) {
        if (!Array.isArray(o.permissions) || o.permissions.some((p) => !ALL_PERMISSIONS.includes(p as Permission))) throw bad(`${f}.permissions`, `expected "all", "none" or a list of ${ALL_PERMISSIONS.join(', ')}`)
        permissions = ALL_PERMISSIONS.filter((p) => (o.permissions as string[]).includes(p))
      }
      if (o.home !== undefined && (typeof o.home !== 'string' || !o.home.startsWith('/'))) throw bad(`${f}.home`, 'expected an absolute path under the storage root')
      return {name: o.name, password, publicKeys: [...new Set(keys)], keysGiven: o.publicKeyFiles !== undefined, home: o.home as string | undefined, permissions}
    }))
  }
  const ipFilter: PreparedSpec['ipFilter'] = {}
  if (spec.ipFilter !== undefined) {
    if (spec.ipFilter === null || typeof spec.ipFilter !== 'object') throw bad('ipFilter', 'expected a mapping of site → rules')
    for (const [site, rules] of Object.entries(spec.ipFilter)) {
      if (!SITES.includes(site as Site)) throw bad(`ipFilter.${site}`, `unknown site (${SITES.join(', ')})`)
      if (!Array.isArray(rules)) throw bad(`ipFilter.${site}`, 'expected a list of {allow: CIDR} or {deny: CIDR}')
      ipFilter[site as Site] = rules.map((r: Record<string, unknown>, i) => {
        const action = 'allow' in r ? 'allow' : 'deny' in r ? 'deny' : (r.action as string)
        const cidr = (r.allow ?? r.deny ?? r.cidr) as string
        if ((action !== 'allow' && action !== 'deny') || typeof cidr !== 'string') throw bad(`ipFilter.${site}[${i}]`, 'expected {allow: CIDR} or {deny: CIDR}')
        return {action, cidr: checkCidr(cidr)}
      })
    }
  }
  const sync = spec.sync as ApplySpec['sync']
  if (sync !== undefined && (sync === null || typeof sync !== 'object')) throw bad('sync', 'expected {enabled, intervalSeconds}')
  const settings = (spec.settings ?? {}) as Record<string, unknown>
  if (typeof settings !== 'object' || Array.isArray(settings)) throw bad('settings', 'expected a mapping of PATH: VALUE')
  return {users: await accounts(spec.users, 'users'), admins: await accounts(spec.admins, 'admins'), ipFilter, sync, settings}
}

/** The accounts the spec creates (they need a password hash or a key before `applySpec`). */
export function newAccounts(spec: PreparedSpec, config: ClusterConfig): {users: Account[]; admins: Account[]} {
  return {
    users: spec.users.filter((u) => !config.users.some((x) => x.name === u.name)),
    admins: spec.admins.filter((a) => !config.adminUsers.some((x) => x.name === a.name)),
  }
}

/** Brings `config` to the spec in place; `hashes` holds the scrypt hashes of the new accounts' passwords. */
export function applySpec(config: ClusterConfig, spec: PreparedSpec, hashes: Map<string, string>): void {
  for (const u of spec.users) {
    let user = config.users.find((x) => x.name === u.name)
    if (!user) {
      const hash = hashes.get(`user:${u.name}`) ?? null
      if (hash === null && u.publicKeys.length === 0) throw new OperationError('invalid', `users: new user "${u.name}" needs passwordEnv or publicKeyFiles`)
      user = {name: u.name, passwordHash: hash, publicKeys: [], home: `/${u.name}`, permissions: [...DEFAULT_USER_PERMISSIONS], disabled: false}
      config.users.push(user)
    }
    if (u.keysGiven) user.publicKeys = u.publicKeys
    if (u.home !== undefined) user.home = u.home
    if (u.permissions !== undefined) user.permissions = u.permissions
  }
  for (const a of spec.admins) {
    let admin = config.adminUsers.find((x) => x.name === a.name)
    if (!admin) {
      const hash = hashes.get(`admin:${a.name}`) ?? null
      if (hash === null && a.publicKeys.length === 0) throw new OperationError('invalid', `admins: new admin "${a.name}" needs passwordEnv or publicKeyFiles`)
      admin = {name: a.name, passwordHash: hash, publicKeys: []}
      config.adminUsers.push(admin)
    }
    if (a.keysGiven) admin.publicKeys = a.publicKeys
  }
  for (const site of SITES) if (spec.ipFilter[site]) config.sites[site].ipFilter = spec.ipFilter[site]!.map((r) => ({...r}))
  if (spec.sync?.enabled !== undefined) config.sync.enabled = spec.sync.enabled
  if (spec.sync?.intervalSeconds !== undefined) config.sync.intervalSeconds = spec.sync.intervalSeconds
  for (const [p, v] of Object.entries(spec.settings)) setPath(config as unknown as Record<string, unknown>, p, v)
}
