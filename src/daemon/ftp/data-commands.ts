// Data-connection setup: PASV/EPSV inside the configured range, PORT/EPRT only back to the client's own
// address and to ports ≥ 1024 (no FTP bounce), REST.
import type {CommandSet} from './command-table.js'
import {DataChannelError} from './data-channel.js'
import {formatEpsv, formatPasv, parseEprt, parsePort, type HostPort} from './data-address.js'
import type {FtpConnection} from './ftp-connection.js'

async function listen(c: FtpConnection): Promise<number | null> {
  try {
    return await c.data.listenPassive()
  } catch (error) {
    if (error instanceof DataChannelError) c.reply(error.code, error.message)
    else c.reply(425, 'Cannot open passive connection')
    return null
  }
}

/** The anti-bounce rule (RFC 2577) of PORT/EPRT: the client's own address, a port ≥ 1024. Replies on refusal. */
export function vetActiveAddress(c: FtpConnection, target: HostPort | null, verb: string): target is HostPort {
  if (c.epsvAll) c.reply(500, `${verb} refused after EPSV ALL`)
  else if (!target) c.reply(501, `Syntax error in ${verb} parameters`)
  else if (target.port < 1024) c.reply(501, `${verb} to a privileged port (< 1024) refused`)
  else if (target.host.toLowerCase() !== c.address) c.reply(500, `Illegal ${verb} command: the data address must be your own`)
  else return true
  return false
}

function active(c: FtpConnection, target: HostPort | null, verb: string): void {
  if (!vetActiveAddress(c, target, verb)) return
  c.data.setActive(target)
  c.reply(200, `${verb} command successful. Consider using PASV.`)
}

export const DATA_COMMANDS: CommandSet = {
  PASV: {
    auth: true,
    async run(c) {
      if (c.epsvAll) return c.reply(500, 'PASV refused after EPSV ALL')
      const text = formatPasv(c.host.advertise, 0)
      if (!text) return c.reply(425, 'PASV needs an IPv4 address; use EPSV')
      const port = await listen(c)
      if (port !== null) c.reply(227, formatPasv(c.host.advertise, port)!)
    },
  },
  EPSV: {
    auth: true,
    async run(c, arg) {
      const a = arg.trim().toUpperCase()
      if (a === 'ALL') {
        c.epsvAll = true
        return c.reply(200, 'EPSV ALL ok')
      }
      if (a !== '' && a !== '1' && a !== '2') return c.reply(522, 'Network protocol not supported, use (1,2)')
      const port = await listen(c)
      if (port !== null) c.reply(229, formatEpsv(port))
    },
  },
  PORT: {auth: true, needsArg: true, run: (c, arg) => active(c, parsePort(arg), 'PORT')},
  EPRT: {auth: true, needsArg: true, run: (c, arg) => active(c, parseEprt(arg), 'EPRT')},
  REST: {
    auth: true,
    needsArg: true,
    run(c, arg) {
      if (!/^\d{1,15}$/.test(arg.trim())) return c.reply(501, 'REST needs a byte offset')
      c.restOffset = Number(arg.trim())
      c.reply(350, `Restart position accepted (${c.restOffset})`)
    },
  },
}
