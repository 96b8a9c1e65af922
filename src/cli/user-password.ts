// Where a file-service user's password comes from: --password, CLUSTER_USER_PASSWORD, or a prompt on a
// TTY (typed twice). It is hashed here, so the clear password never leaves the CLI.
import {hashPassword} from '../config/password.js'
import {OperationError} from '../protocol/index.js'
import {promptPassword} from './ui/prompt.js'

export const USER_PASSWORD_ENV = 'CLUSTER_USER_PASSWORD'

export interface PasswordSource {
  flag: string | undefined
  interactive: boolean
  /** Without it, no prompt and no error: the caller has another credential (a key). */
  required: boolean
  name: string
}

/** The scrypt hash of the user's password, or null when none was given and none is required. */
export async function userPasswordHash(src: PasswordSource): Promise<string | null> {
  let password = src.flag ?? process.env[USER_PASSWORD_ENV]
  if (password === undefined && src.required) {
    if (!src.interactive) {
      throw new OperationError('invalid', `no password for "${src.name}": give --password or set ${USER_PASSWORD_ENV}`, 'prompting is off (no TTY, --yes or CI)')
    }
    password = await promptPassword(`Password for ${src.name}:`)
    if ((await promptPassword('Again:')) !== password) throw new OperationError('invalid', 'the passwords do not match')
  }
  if (password === undefined) return null
  if (password === '') throw new OperationError('invalid', `--password: empty password for "${src.name}"`)
  return hashPassword(password)
}
