// Where a file-service user's password comes from: --password, CLUSTER_USER_PASSWORD, or a prompt on a
// TTY (typed twice). It is hashed here, so the clear password never leaves the CLI.
import {hashPassword} from '../config/password.js'
import {OperationError} from '../protocol/index.js'
import {DEFAULT_PASSWORD_MIN_LENGTH} from '../config/schema.js'
import {promptPassword} from './ui/prompt.js'

export const USER_PASSWORD_ENV = 'CLUSTER_USER_PASSWORD'

export interface PasswordSource {
  flag: string | undefined
  interactive: boolean
  /** Without it, no prompt and no error: the caller has another credential (a key). */
  required: boolean
  name: string
  /** The cluster's passwordPolicy.minLength (default 12). */
  minLength?: number
  /** The environment variable and flag named in errors (file users: CLUSTER_USER_PASSWORD / --password). */
  env?: string
  flagName?: string
}

/** The password policy: a clear error naming the setting that decides it. */
export function checkPassword(password: string, minLength: number, what: string): void {
  if ([...password].length < minLength) {
    throw new OperationError('invalid', `${what}: the password has ${[...password].length} characters; the cluster's policy asks for at least ${minLength}`, `choose a longer one (a passphrase of a few words is easiest), or change the policy: \`cluster config set passwordPolicy.minLength N\``)
  }
}

/** The scrypt hash of the user's password, or null when none was given and none is required. */
export async function userPasswordHash(src: PasswordSource): Promise<string | null> {
  const env = src.env ?? USER_PASSWORD_ENV
  const flagName = src.flagName ?? '--password'
  let password = src.flag ?? process.env[env]
  if (password === undefined && src.required) {
    if (!src.interactive) {
      throw new OperationError('invalid', `no password for "${src.name}": give ${flagName} or set ${env}`, 'prompting is off (no TTY, --yes or CI)')
    }
    password = await promptPassword(`Password for ${src.name}:`)
    if ((await promptPassword('Again:')) !== password) throw new OperationError('invalid', 'the passwords do not match')
  }
  if (password === undefined) return null
  if (password === '') throw new OperationError('invalid', `${flagName}: empty password for "${src.name}"`)
  checkPassword(password, src.minLength ?? DEFAULT_PASSWORD_MIN_LENGTH, `${flagName} for "${src.name}"`)
  return hashPassword(password)
}
