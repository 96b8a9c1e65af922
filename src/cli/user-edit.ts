// File-service users in the cluster configuration: add, remove, set a password, and the summary that
// `users list` shows (never the hash). Pure functions over the configuration, plus reading key files.
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {fingerprintOf, OperationError} from '../protocol/index.js'
import {ALL_PERMISSIONS, type ClusterConfig, type Permission, type User} from '../config/schema.js'
import {makeUser, noSuchUserError, type NewUser} from '../config/users.js'

export type {NewUser} from '../config/users.js'

/** A public key as `users list --json` shows it. */
export interface PublicKeyInfo {
  type: string
  fingerprint: string
  comment: string
}

/** A user as `users list --json` shows it. */
export interface UserSummary {
  name: string
  home: string
  permissions: Permission[]
  publicKeys: PublicKeyInfo[]
  hasPassword: boolean
  disabled: boolean
}

const KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com) ([A-Za-z0-9+/=]+)(?: (.*))?$/

/** "list,download" → permissions in canonical order; "all" → every one; a usage error names the bad word. */
export function parsePermissions(text: string): Permission[] {
  const words = text.split(',').map((w) => w.trim().toLowerCase()).filter(Boolean)
  if (words.length === 1 && words[0] === 'all') return [...ALL_PERMISSIONS]
  if (words.length === 1 && words[0] === 'none') return []
  for (const w of words) {
    if (!ALL_PERMISSIONS.includes(w as Permission)) {
      throw new OperationError('invalid', `--permissions: unknown permission "${w}"`, `use a comma-separated list of ${ALL_PERMISSIONS.join(', ')}, or "all" / "none"`)
    }
  }
  if (words.length === 0) throw new OperationError('invalid', '--permissions: empty list', 'give e.g. list,download, or "none" for no access')
  return ALL_PERMISSIONS.filter((p) => words.includes(p))
}

export function keyInfo(line: string): PublicKeyInfo {
  const m = KEY_RE.exec(line.trim())
  if (!m) return {type: 'unknown', fingerprint: '', comment: ''}
  const digest = (d: Buffer) => createHash('sha256').update(d).digest()
  return {type: m[1], fingerprint: fingerprintOf(Buffer.from(m[2], 'base64'), digest), comment: m[3] ?? ''}
}

/** The OpenSSH public key lines of a file (authorized_keys format); refuses a private key. */
export function parsePublicKeys(text: string, file: string): string[] {
  if (/PRIVATE KEY/.test(text)) {
    throw new OperationError('invalid', `--public-key: ${file} is a private key`, `give the public half (${file}.pub); private keys never leave this machine`)
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  lines.forEach((l, i) => {
    if (!KEY_RE.test(l)) throw new OperationError('invalid', `--public-key: ${file} line ${i + 1} is not an OpenSSH public key`, 'expected "ssh-ed25519 AAAA… comment" (ssh-keygen makes one)')
  })
  if (lines.length === 0) throw new OperationError('invalid', `--public-key: ${file} holds no key`)
  return lines
}

export async function readPublicKeyFiles(files: string[]): Promise<string[]> {
  const keys: string[] = []
  for (const file of files) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      throw new OperationError('invalid', `--public-key: cannot read ${file} (${(error as NodeJS.ErrnoException).code})`)
    }
    keys.push(...parsePublicKeys(text, file))
  }
  return [...new Set(keys)]
}

export function findUser(config: ClusterConfig, name: string): User {
  const user = config.users.find((u) => u.name === name)
  if (!user) throw noSuchUserError(name)
  return user
}

export function addUser(config: ClusterConfig, spec: NewUser): User {
  const user = makeUser(config, spec)
  config.users.push(user)
  return user
}

export function removeUser(config: ClusterConfig, name: string): User {
  const user = findUser(config, name)
  config.users = config.users.filter((u) => u !== user)
  return user
}

export function setPasswordHash(config: ClusterConfig, name: string, hash: string): User {
  const user = findUser(config, name)
  user.passwordHash = hash
  return user
}

export function userSummary(user: User): UserSummary {
  return {
    name: user.name,
    home: user.home,
    permissions: user.permissions,
    publicKeys: user.publicKeys.map(keyInfo),
    hasPassword: user.passwordHash !== null,
    disabled: user.disabled,
  }
}
