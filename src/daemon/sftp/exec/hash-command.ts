// md5sum / sha1sum / sha256sum over files of the jail, read with the user's download permission, printed
// as coreutils prints them (what rclone parses to compare hashes without downloading).
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import {promisify} from 'node:util'
import type {Readable, Writable} from 'node:stream'
import {toFileError} from '../../session/file-errors.js'
import type {FileSession} from '../../session/types.js'

const read = promisify(fs.read)

export const HASH_COMMANDS = {md5sum: 'md5', sha1sum: 'sha1', sha256sum: 'sha256'} as const
export type HashCommand = keyof typeof HASH_COMMANDS

/** coreutils' messages (strerror) for the error kinds of the file session (kinds added later read as I/O errors). */
const STRERROR: Record<string, string> = {
  'not-found': 'No such file or directory',
  permission: 'Permission denied',
  'invalid-path': 'Permission denied',
  exists: 'File exists',
  'not-empty': 'Directory not empty',
  'not-directory': 'Not a directory',
  'is-directory': 'Is a directory',
  'no-space': 'No space left on device',
  busy: 'Device or resource busy',
  io: 'Input/output error',
  'name-too-long': 'File name too long',
  'invalid-argument': 'Invalid argument',
  'no-resources': 'Too many open files',
}

/** The text coreutils would print for `error`; a raw system error (a write's ENOSPC) is named by its code too. */
export function strerror(error: unknown): string {
  return STRERROR[toFileError(error, '').kind] || STRERROR.io
}

/** coreutils escapes names holding a backslash or newline and marks the line with a leading backslash. */
function line(digest: string, name: string): string {
  if (!/[\\\n\r]/.test(name)) return `${digest}  ${name}\n`
  return `\\${digest}  ${name.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}\n`
}

async function hashFile(session: FileSession, name: string, algorithm: string): Promise<string> {
  const file = await session.openRead(session.resolve(name.replace(/^~(?=\/|$)/, '')))
  try {
    const hash = createHash(algorithm)
    const buf = Buffer.allocUnsafe(256 * 1024)
    for (let pos = 0; ; ) {
      const {bytesRead} = await read(file.fd, buf, 0, buf.length, pos)
      if (bytesRead === 0) break
      hash.update(buf.subarray(0, bytesRead))
      pos += bytesRead
    }
    return hash.digest('hex')
  } finally {
    await file.close()
  }
}

async function hashStream(input: Readable, algorithm: string): Promise<string> {
  const hash = createHash(algorithm)
  // destroyOnReturn false: the channel must stay open for our output and exit-status.
  for await (const chunk of input.iterator({destroyOnReturn: false})) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Runs one hash command; resolves to its exit status (0, or 1 if any file failed). */
export async function runHash(command: HashCommand, args: string[], session: FileSession, io: {stdin: Readable; stdout: Writable; stderr: Writable}): Promise<number> {
  const algorithm = HASH_COMMANDS[command]
  const names: string[] = []
  let options = true
  for (const a of args) {
    if (options && a === '--') options = false
    else if (options && a.startsWith('-') && a !== '-') {
      // -b/-t (binary/text) mean the same on POSIX; anything else (--check…) is not offered.
      if (!/^-[bt]+$/.test(a) && a !== '--binary' && a !== '--text') {
        io.stderr.write(`${command}: option ${a} is not supported here (supported: -b, -t, --)\n`)
        return 1
      }
    } else names.push(a)
  }
  if (names.length === 0) names.push('-')
  let status = 0
  for (const name of names) {
    try {
      const digest = name === '-' ? await hashStream(io.stdin, algorithm) : await hashFile(session, name, algorithm)
      io.stdout.write(line(digest, name))
    } catch (error) {
      io.stderr.write(`${command}: ${name}: ${strerror(error)}\n`)
      status = 1
    }
  }
  return status
}
