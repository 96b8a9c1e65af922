// USER/PASS and the TLS negotiation (AUTH TLS, PBSZ, PROT) — RFC 959, RFC 2228, RFC 4217.
import {setTimeout as delay} from 'node:timers/promises'
import {verifyPassword} from '../../config/password.js'
import type {CommandSet} from './command-table.js'
import type {FtpConnection} from './ftp-connection.js'
import {userByName} from '../../config/users.js'

function tlsMissing(c: FtpConnection): boolean {
  if (c.requireTls && !c.control.secure) {
    c.reply(530, 'TLS is required on this server: use AUTH TLS first')
    return true
  }
  return false
}

async function pass(c: FtpConnection, password: string): Promise<void> {
  if (c.loggedIn) return c.reply(230, 'Already logged in')
  if (tlsMissing(c)) return
  const name = c.pendingUser
  if (name === null) return c.reply(503, 'Login with USER first')
  c.pendingUser = null
  const config = c.host.config()
  const user = userByName(config.users, name)
  // Parallel guesses from one address: refused unchecked once those in flight would reach the ban.
  if (!(await c.host.defender.begin(c.address))) return c.close(421, 'Too many login attempts from your address, try again later')
  let valid = false
  let banned = false
  try {
    // the hash check runs for unknown and disabled users too, so every refusal takes the same time
    valid = (await verifyPassword(password, user?.passwordHash ?? null)) && user !== undefined && !user.disabled
  } finally {
    // Scored before the check's slot is given back (a worker's messages reach the supervisor in this
    // order), and even when the client hung up meanwhile: closing early must not dodge the count.
    if (valid) c.host.defender.recordSuccess(c.address)
    else banned = c.host.defender.recordFailure(c.address, undefined, 'ftp')
    c.host.defender.end(c.address)
  }
  if (c.control.closed) return
  if (valid && user) {
    c.loginSucceeded(await c.host.openSession(user))
    c.host.log.info('ftp login', {user: user.name, address: c.address, tls: c.control.secure})
    return c.reply(230, 'Login successful')
  }
  c.authTries += 1
  c.host.log.info('ftp login failed', {user: name.slice(0, 64), address: c.address, banned})
  await delay(c.host.defender.failDelayMs)
  if (banned || c.authTries >= config.limits.maxAuthTries) return c.close(421, 'Too many failed logins, closing control connection')
  c.reply(530, 'Login incorrect')
}

async function auth(c: FtpConnection, arg: string): Promise<void> {
  const mech = arg.trim().toUpperCase()
  if (mech !== 'TLS' && mech !== 'SSL' && mech !== 'TLS-C') return c.reply(504, 'AUTH TLS only')
  if (c.control.secure) return c.reply(503, 'Already using TLS')
  const context = c.host.tls()
  if (!context) return c.reply(431, 'TLS is not available')
  c.reply(234, 'Proceed with TLS negotiation')
  try {
    await c.control.upgrade(context, c.host.dataTimeoutMs)
  } catch (error) {
    c.host.log.debug('control TLS handshake failed', {address: c.address, reason: (error as Error).message})
    c.control.destroy()
  }
}

export const AUTH_COMMANDS: CommandSet = {
  USER: {
    auth: false,
    needsArg: true,
    run(c, arg) {
      if (c.loggedIn) return c.reply(530, 'Cannot change to another user')
      if (tlsMissing(c)) return
      c.pendingUser = arg.trim()
      c.reply(331, 'Please specify the password')
    },
  },
  PASS: {auth: false, run: pass},
  AUTH: {auth: false, needsArg: true, run: auth},
  PBSZ: {
    auth: false,
    needsArg: true,
    run(c) {
      if (!c.control.secure) return c.reply(503, 'PBSZ needs AUTH TLS first')
      c.pbsz = true
      c.reply(200, 'PBSZ=0')
    },
  },
  PROT: {
    auth: false,
    needsArg: true,
    run(c, arg) {
      if (!c.control.secure) return c.reply(503, 'PROT needs AUTH TLS first')
      const level = arg.trim().toUpperCase()
      if (level === 'P') {
        c.protP = true
        return c.reply(200, 'Protection level set to Private')
      }
      if (level === 'C') {
        if (c.requireTls) return c.reply(536, 'PROT C refused: data connections must be encrypted')
        c.protP = false
        return c.reply(200, 'Protection level set to Clear')
      }
      c.reply(504, 'PROT C or P only')
    },
  },
}
