// Session and protocol commands that touch no file: FEAT, SYST, HELP, OPTS, TYPE, MODE, STRU, NOOP, STAT,
// ABOR, QUIT.
import type {CommandSet} from './command-table.js'

/** The FEAT lines of the engine (the striped gateway adds its own). */
export const FEATURES: readonly string[] = [
  'AUTH TLS',
  'PBSZ',
  'PROT',
  'EPRT',
  'EPSV',
  'MDTM',
  'MFMT',
  'MLST type*;size*;modify*;perm*;unix.mode*;',
  'PASV',
  'REST STREAM',
  'SIZE',
  'TVFS',
  'UTF8',
]

const HELP = [
  'ABOR', 'APPE', 'AUTH', 'CDUP', 'CWD', 'DELE', 'EPRT', 'EPSV', 'FEAT', 'HELP', 'LIST', 'MDTM', 'MKD', 'MFMT', 'MLSD', 'MLST', 'MODE',
  'NLST', 'NOOP', 'OPTS', 'PASS', 'PASV', 'PBSZ', 'PORT', 'PROT', 'PWD', 'QUIT', 'REST', 'RETR', 'RMD', 'RNFR', 'RNTO', 'SITE', 'SIZE',
  'STAT', 'STOR', 'STRU', 'SYST', 'TYPE', 'USER', 'XPWD',
]

export const INFO_COMMANDS: CommandSet = {
  FEAT: {auth: false, run: (c) => c.reply(211, ['Features:', ...FEATURES, 'End'].join('\n'))},
  SYST: {auth: false, run: (c) => c.reply(215, 'UNIX Type: L8')},
  NOOP: {auth: false, run: (c) => c.reply(200, 'NOOP ok')},
  HELP: {
    auth: false,
    run(c) {
      const rows: string[] = []
      for (let i = 0; i < HELP.length; i += 10) rows.push(HELP.slice(i, i + 10).join(' '))
      c.reply(214, ['The following commands are recognized.', ...rows, 'Help OK'].join('\n'))
    },
  },
  OPTS: {
    auth: false,
    needsArg: true,
    run(c, arg) {
      const [opt, value] = arg.trim().toUpperCase().split(/\s+/)
      if (opt === 'UTF8' || opt === 'UTF-8') return value === 'OFF' ? c.reply(504, 'UTF8 cannot be switched off') : c.reply(200, 'Always in UTF8 mode')
      if (opt === 'MLST') return c.reply(200, 'MLST OPTS type;size;modify;perm;unix.mode;')
      c.reply(501, 'Option not understood')
    },
  },
  TYPE: {
    auth: false,
    needsArg: true,
    run(c, arg) {
      // files always move as binary (vsftpd's default): ASCII conversion would break REST offsets
      const t = arg.trim().toUpperCase()
      if (t === 'I' || t === 'L 8') return c.reply(200, 'Switching to Binary mode')
      if (t === 'A' || t === 'A N') return c.reply(200, 'Switching to ASCII mode')
      c.reply(504, 'TYPE A or I only')
    },
  },
  MODE: {auth: false, needsArg: true, run: (c, arg) => (arg.trim().toUpperCase() === 'S' ? c.reply(200, 'Mode set to S') : c.reply(504, 'MODE S only'))},
  STRU: {auth: false, needsArg: true, run: (c, arg) => (arg.trim().toUpperCase() === 'F' ? c.reply(200, 'Structure set to F') : c.reply(504, 'STRU F only'))},
  ABOR: {
    auth: false,
    // a running transfer was stopped when the line arrived (it answered 426); this is the ABOR's own reply,
    // 225 when there was nothing to abort (RFC 959 4.1.3, as vsftpd answers)
    run: (c) => {
      c.data.reset()
      if (c.takeAborted()) c.reply(226, 'ABOR successful')
      else c.reply(225, 'No transfer to ABOR')
    },
  },
  QUIT: {auth: false, run: (c) => c.close(221, 'Goodbye')},
}
