// exec requests on the user SFTP port: the few commands users' tools really run (rclone's hash commands,
// the legacy scp protocol), served inside the jail through the file session. No shell, no processes.
import type {ServerChannel} from 'ssh2'
import type {Logger} from '../../log.js'
import type {FileSession} from '../../session/types.js'
import {HASH_COMMANDS, runHash, type HashCommand} from './hash-command.js'
import {parseScpArgs, runScp} from './scp-server.js'
import {ShellSyntaxError, shellWords} from './shell-words.js'

export const OFFERED = 'this server offers SFTP, scp and md5sum/sha1sum/sha256sum'

export interface ExecContext {
  log: Logger
  address: string
}

/** The one line a client gets for anything we do not run, naming what it asked for. */
export function notAvailable(what: string): string {
  return `${OFFERED}; ${what} is not available\n`
}

function commandName(word: string): string {
  return word.slice(word.lastIndexOf('/') + 1)
}

/** Runs `command` on `channel` and ends it with the exit status, like sshd after the process exits. */
export async function runExec(channel: ServerChannel, command: string, session: FileSession, ctx: ExecContext): Promise<void> {
  const fields = {user: session.user.name, address: ctx.address, command: command.slice(0, 200)}
  let status = 1
  try {
    status = await dispatch(channel, command, session)
  } catch (error) {
    ctx.log.warn('exec command failed', {...fields, reason: (error as Error).message})
    channel.stderr.write(`${commandName(command.trim().split(/\s+/)[0] ?? '')}: ${(error as Error).message}\n`)
    status = 1
  }
  if (status !== 0) ctx.log.warn('exec command ended with an error', {...fields, status})
  else ctx.log.info('exec command', fields)
  await end(channel, status)
}

/** A shell request (`ssh host` without a command): there is no shell, say so. */
export async function refuseShell(channel: ServerChannel): Promise<void> {
  channel.stderr.write(notAvailable('an interactive shell'))
  await end(channel, 1)
}

/** Output first (queued writes drain in order), then exit-status, EOF and close, as sshd orders them. */
async function end(channel: ServerChannel, status: number): Promise<void> {
  await new Promise<void>((resolve) => channel.stderr.write(Buffer.alloc(0), () => resolve()))
  await new Promise<void>((resolve) => channel.write(Buffer.alloc(0), () => resolve()))
  channel.exit(status)
  channel.end()
}

async function dispatch(channel: ServerChannel, command: string, session: FileSession): Promise<number> {
  let words: string[]
  try {
    words = shellWords(command)
  } catch (error) {
    if (!(error instanceof ShellSyntaxError)) throw error
    const first = commandName(command.trim().split(/\s+/)[0] ?? '')
    channel.stderr.write(first in HASH_COMMANDS || first === 'scp' ? `${first}: ${error.message}; this server runs no shell\n` : notAvailable(first || 'an empty command'))
    return 1
  }
  if (words.length === 0) {
    channel.stderr.write(notAvailable('an empty command'))
    return 1
  }
  const name = commandName(words[0])
  if (name in HASH_COMMANDS) return runHash(name as HashCommand, words.slice(1), session, {stdin: channel, stdout: channel, stderr: channel.stderr})
  if (name === 'scp') {
    const o = parseScpArgs(words.slice(1))
    if (!o) {
      channel.stderr.write('scp: only the server side of scp runs here (scp -t / scp -f, with -r, -p, -d)\n')
      return 1
    }
    return runScp(o, session, {stdin: channel, stdout: channel})
  }
  channel.stderr.write(notAvailable(name))
  return 1
}
