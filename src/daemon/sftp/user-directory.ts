// The users of the files site as authentication sees them: lookup by name, password check with the same
// cost for unknown users, and public keys parsed once per configuration.
import ssh2, {type ParsedKey, type PublicKey} from 'ssh2'
import type {User} from '../../config/schema.js'
import {verifyPassword} from '../../config/password.js'
import {userByName} from '../../config/users.js'

const {utils} = ssh2

function parsePublicKey(line: string): ParsedKey | null {
  const parsed = utils.parseKey(line)
  if (parsed instanceof Error) return null
  return Array.isArray(parsed) ? (parsed[0] ?? null) : parsed
}

export class UserDirectory {
  private users: readonly User[] = []
  /** Parsed public keys by their line; emptied when it grows past what any configuration needs. */
  private readonly keys = new Map<string, ParsedKey | null>()

  constructor(users: User[]) {
    this.update(users)
  }

  /** Takes effect for the next authentication; live sessions are updated by the service. */
  update(users: User[]): void {
    this.users = users
    if (this.keys.size > 4 * 1024) this.keys.clear()
  }

  find(name: string): User | undefined {
    return userByName(this.users, name)
  }

  /** The user when the password is right and the user is enabled; unknown users cost one scrypt too. */
  async checkPassword(name: string, password: string): Promise<User | null> {
    const user = this.find(name)
    const ok = await verifyPassword(password, user?.passwordHash ?? null)
    return ok && user && !user.disabled ? user : null
  }

  /** The user's key matching the offered one, or null. */
  matchKey(name: string, offered: PublicKey): ParsedKey | null {
    const user = this.find(name)
    if (!user || user.disabled) return null
    for (const line of user.publicKeys) {
      let key = this.keys.get(line)
      if (key === undefined) {
        key = parsePublicKey(line)
        this.keys.set(line, key)
      }
      // The blob carries the key type, so comparing blobs compares type and key.
      if (key && key.getPublicSSH().equals(offered.data)) return key
    }
    return null
  }
}
