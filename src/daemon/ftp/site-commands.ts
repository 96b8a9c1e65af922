// SITE CHMOD / SITE UTIME and MFMT: permission bits and modification times, mapped onto the FileSession's
// chmod and setTimes (the same permission checks as SFTP's setstat).
import type {CommandSet} from './command-table.js'
import type {FtpConnection} from './ftp-connection.js'

/** "YYYYMMDDHHMMSS[.sss]" (UTC, RFC 3659 time-val) → Date, or null. */
export function parseTimeVal(text: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?$/.exec(text)
  if (!m) return null
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number)
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms))
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d && h < 24 && mi < 60 && s < 61 ? date : null
}

async function setMtime(c: FtpConnection, pathArg: string, time: Date, reply: (p: string) => void): Promise<void> {
  const target = c.resolve(pathArg)
  if (target === null) return
  try {
    await c.session!.setTimes(target, time, time)
    reply(target)
  } catch (error) {
    c.replyError(error)
  }
}

async function site(c: FtpConnection, arg: string): Promise<void> {
  const [sub, ...rest] = arg.trim().split(/\s+/)
  switch ((sub ?? '').toUpperCase()) {
    case 'CHMOD': {
      const [modeText, ...pathParts] = rest
      if (!modeText || !/^[0-7]{1,4}$/.test(modeText) || pathParts.length === 0) return c.reply(501, 'Usage: SITE CHMOD <octal mode> <path>')
      const target = c.resolve(arg.trim().replace(/^\S+\s+\S+\s+/, ''))
      if (target === null) return
      try {
        await c.session!.chmod(target, parseInt(modeText, 8))
        return c.reply(200, 'SITE CHMOD command ok')
      } catch (error) {
        return c.replyError(error)
      }
    }
    case 'UTIME': {
      // lftp: SITE UTIME <path> <atime> <mtime> <ctime> UTC; also the short form SITE UTIME <time> <path>.
      const long = /^\S+\s+(.+?)\s+(\d{14})\s+(\d{14})\s+(\d{14})\s+UTC$/i.exec(arg.trim())
      const short = /^\S+\s+(\d{14})\s+(.+)$/.exec(arg.trim())
      const time = parseTimeVal((long ? long[3] : short?.[1]) ?? '')
      const pathArg = long ? long[1] : short?.[2]
      if (!time || !pathArg) return c.reply(501, 'Usage: SITE UTIME <path> <atime> <mtime> <ctime> UTC')
      return setMtime(c, pathArg, time, () => c.reply(200, 'SITE UTIME command ok'))
    }
    case 'HELP':
      return c.reply(214, 'SITE commands: CHMOD UTIME HELP')
    default:
      return c.reply(504, `SITE ${sub ?? ''} not implemented; SITE HELP lists what is`)
  }
}

export const SITE_COMMANDS: CommandSet = {
  SITE: {auth: true, needsArg: true, run: site},
  // RFC 3659-style MFMT: MFMT <time-val> <path> → 213 Modify=<time-val>; <path>
  MFMT: {
    auth: true,
    needsArg: true,
    async run(c, arg) {
      const m = /^(\S+)\s+(.+)$/.exec(arg.trim())
      const time = m ? parseTimeVal(m[1]) : null
      if (!m || !time) return c.reply(501, 'Usage: MFMT YYYYMMDDHHMMSS path')
      await setMtime(c, m[2], time, (p) => c.reply(213, `Modify=${m[1]}; ${p}`))
    },
  },
}
