// Which verbs exist, whether they need a login or an argument, and which module handles them.
import {AUTH_COMMANDS} from './auth-commands.js'
import {DATA_COMMANDS} from './data-commands.js'
import {FILE_COMMANDS} from './file-commands.js'
import type {FtpConnection} from './ftp-connection.js'
import {INFO_COMMANDS} from './info-commands.js'
import {SITE_COMMANDS} from './site-commands.js'
import {TRANSFER_COMMANDS} from './transfer-commands.js'

export interface Command {
  run(c: FtpConnection, arg: string): void | Promise<void>
  /** Refused with 530 before login. */
  auth: boolean
  /** Refused with 501 without an argument. */
  needsArg?: boolean
}

export type CommandSet = Record<string, Command>

export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  Object.entries({...AUTH_COMMANDS, ...INFO_COMMANDS, ...DATA_COMMANDS, ...FILE_COMMANDS, ...TRANSFER_COMMANDS, ...SITE_COMMANDS}),
)
