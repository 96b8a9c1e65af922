// Navigation and file management on the control connection: PWD, CWD, CDUP, MKD, RMD, DELE, RNFR/RNTO,
// SIZE, MDTM, MLST, STAT — each translated onto the FileSession (style.md habit 5).
import type {Command, CommandSet} from './command-table.js'
import type {FtpConnection} from './ftp-connection.js'
import {listLine, mdtm, mlsxFacts} from './list-format.js'

/** RFC 959: a quote inside a quoted path name is doubled. */
const quote = (p: string) => `"${p.replace(/"/g, '""')}"`

/** Runs a file operation; a FileError becomes its reply. */
async function guarded(c: FtpConnection, op: () => Promise<void>): Promise<void> {
  try {
    await op()
  } catch (error) {
    c.replyError(error)
  }
}

async function cwd(c: FtpConnection, arg: string): Promise<void> {
  const target = c.resolve(arg)
  if (target === null) return
  await guarded(c, async () => {
    const s = await c.session!.stat(target)
    if (!s.isDirectory) return c.reply(550, 'Failed to change directory: not a directory')
    c.cwd = target
    c.reply(250, 'Directory successfully changed')
  })
}

const pwd: Command = {auth: true, run: (c) => c.reply(257, `${quote(c.cwd)} is the current directory`)}
const cwdCommand: Command = {auth: true, run: (c, arg) => cwd(c, arg.trim() === '' ? '/' : arg)}
const cdup: Command = {auth: true, run: (c) => cwd(c, '..')}
const mkd: Command = {
  auth: true,
  needsArg: true,
  async run(c, arg) {
    const target = c.resolve(arg)
    if (target !== null) await guarded(c, async () => {
      await c.session!.mkdir(target)
      c.reply(257, `${quote(target)} created`)
    })
  },
}
const rmd: Command = {
  auth: true,
  needsArg: true,
  async run(c, arg) {
    const target = c.resolve(arg)
    if (target === null) return
    if (target === '/') return c.reply(550, 'Cannot remove the home directory')
    await guarded(c, async () => {
      await c.session!.rmdir(target)
      c.reply(250, 'Remove directory operation successful')
    })
  },
}

export const FILE_COMMANDS: CommandSet = {
  PWD: pwd,
  XPWD: pwd,
  CWD: cwdCommand,
  XCWD: cwdCommand,
  CDUP: cdup,
  XCUP: cdup,
  MKD: mkd,
  XMKD: mkd,
  RMD: rmd,
  XRMD: rmd,
  DELE: {
    auth: true,
    needsArg: true,
    async run(c, arg) {
      const target = c.resolve(arg)
      if (target !== null) await guarded(c, async () => {
        await c.session!.remove(target)
        c.reply(250, 'Delete operation successful')
      })
    },
  },
  RNFR: {
    auth: true,
    needsArg: true,
    async run(c, arg) {
      const target = c.resolve(arg)
      if (target !== null) await guarded(c, async () => {
        await c.session!.stat(target)
        c.renameFrom = target
        c.reply(350, 'Ready for RNTO')
      })
    },
  },
  RNTO: {
    auth: true,
    needsArg: true,
    async run(c, arg) {
      const from = c.renameFrom
      c.renameFrom = null
      if (from === null) return c.reply(503, 'RNFR required first')
      const target = c.resolve(arg)
      if (target !== null) await guarded(c, async () => {
        await c.session!.rename(from, target)
        c.reply(250, 'Rename successful')
      })
    },
  },
  SIZE: {
    auth: true,
    needsArg: true,
    async run(c, arg) {
      const target = c.resolve(arg)
      if (target !== null) await guarded(c, async () => {
        const s = await c.session!.stat(target)
        if (!s.isFile) return c.reply(550, 'Could not get file size')
        c.reply(213, String(s.size))
      })
    },
  },
  MDTM: {
    auth: true,
    needsArg: true,
    async run(c, arg) {
      const target = c.resolve(arg)
      if (target !== null) await guarded(c, async () => c.reply(213, mdtm((await c.session!.stat(target)).mtime)))
    },
  },
  MLST: {
    auth: true,
    async run(c, arg) {
      const target = c.resolve(arg)
      if (target !== null) await guarded(c, async () => {
        const s = await c.session!.stat(target)
        c.reply(250, [`Listing ${target}`, `${mlsxFacts(s, (p) => c.session!.can(p))} ${target}`, 'End'].join('\n'))
      })
    },
  },
  STAT: {
    auth: false,
    async run(c, arg) {
      if (arg.trim() === '' || !c.loggedIn) {
        const who = c.session ? `Logged in as ${c.session.user.name}` : 'Not logged in'
        return c.reply(211, ['ftpcluster FTP server status:', `Connected to ${c.address}`, who, c.control.secure ? 'Control connection is encrypted' : 'Control connection is plain text', c.busy ? 'Transfer in progress' : 'No data connection', 'End of status'].join('\n'))
      }
      const target = c.resolve(arg)
      if (target === null) return
      await guarded(c, async () => {
        const s = await c.session!.stat(target)
        const entries = s.isDirectory ? await c.session!.list(target) : [s]
        c.reply(213, ['Status follows:', ...entries.map((e) => listLine(e)), 'End of status'].join('\n'))
      })
    },
  },
}
