// Commands that use the data connection: RETR, STOR, APPE, LIST, NLST, MLSD.
import {setTimeout as delay} from 'node:timers/promises'
import type {CommandSet} from './command-table.js'
import type {FtpConnection} from './ftp-connection.js'
import {listLine, mlsxFacts} from './list-format.js'
import {TransferAborted, receiveFile, sendFile, sendText} from './transfer.js'
import type {FileStat} from '../session/types.js'

async function retr(c: FtpConnection, arg: string): Promise<void> {
  const target = c.resolve(arg)
  const offset = c.takeRest()
  if (target === null) return
  let handle
  try {
    handle = await c.session!.openRead(target)
  } catch (error) {
    c.data.reset()
    return c.replyError(error)
  }
  try {
    if (offset > handle.size) {
      c.data.reset()
      return c.reply(554, 'REST offset is beyond the end of the file')
    }
    await c.withData(`Opening BINARY mode data connection for ${target} (${handle.size} bytes)`, async (socket) => {
      await sendFile(handle.fd, offset, socket, () => c.touch())
    })
  } finally {
    await handle.close().catch(() => {})
  }
}

/** Up to 6 × 5 ms after the data EOF before an upload is committed. */
const KILL_GRACE_STEPS = 6

async function store(c: FtpConnection, arg: string, append: boolean): Promise<void> {
  const target = c.resolve(arg)
  const offset = c.takeRest()
  if (target === null) return
  let upload
  try {
    upload = await c.session!.openWrite(target, append ? {append: true} : offset > 0 ? {offset} : {})
  } catch (error) {
    c.data.reset()
    return c.replyError(error)
  }
  const u = upload
  let settled = false
  const ok = await c.withData(`Ok to send data to ${target}`, async (socket) => {
    try {
      await receiveFile(u.fd, u.startOffset, socket, () => c.touch())
      // a killed client closes data and control together: give the control EOF (≈1 ms behind) time to arrive
      for (let i = 0; i < KILL_GRACE_STEPS && !c.control.closed; i++) await delay(5)
      if (c.control.closed) throw new TransferAborted('control connection closed during the upload')
      settled = true
      await u.commit()
    } catch (error) {
      if (!settled) await u.abort(error instanceof TransferAborted).catch(() => {})
      throw error
    }
  })
  // no data connection at all: nothing was written, drop the part file
  if (!ok && !settled) await u.abort(false).catch(() => {})
}

/** `LIST -la dir` → `dir`: clients pass ls options that we ignore. */
function listTarget(arg: string): string {
  return arg
    .trim()
    .split(/\s+/)
    .filter((p) => !/^-[A-Za-z]+$/.test(p))
    .join(' ')
}

async function listing(c: FtpConnection, arg: string, format: (entries: FileStat[], dir: boolean, path: string) => string | null): Promise<void> {
  const target = c.resolve(listTarget(arg))
  if (target === null) return c.data.reset()
  let text: string | null
  try {
    const s = await c.session!.stat(target)
    text = s.isDirectory ? format(await c.session!.list(target), true, target) : format([s], false, target)
  } catch (error) {
    c.data.reset()
    return c.replyError(error)
  }
  if (text === null) {
    c.data.reset()
    return c.reply(501, 'MLSD needs a directory; use MLST for a file')
  }
  const body = text
  await c.withData('Here comes the directory listing', (socket) => sendText(socket, body))
}

const lines = (items: string[]) => items.map((l) => l + '\r\n').join('')

export const TRANSFER_COMMANDS: CommandSet = {
  RETR: {auth: true, needsArg: true, run: retr},
  STOR: {auth: true, needsArg: true, run: (c, arg) => store(c, arg, false)},
  APPE: {auth: true, needsArg: true, run: (c, arg) => store(c, arg, true)},
  LIST: {auth: true, run: (c, arg) => listing(c, arg, (entries) => lines(entries.map((e) => listLine(e))))},
  NLST: {
    auth: true,
    run: (c, arg) => listing(c, arg, (entries, dir, path) => lines(entries.map((e) => (dir ? e.name : path)))),
  },
  MLSD: {
    auth: true,
    run: (c, arg) =>
      listing(c, arg, (entries, dir) => {
        if (!dir) return null
        return lines(entries.map((e) => `${mlsxFacts(e, (p) => c.session!.can(p))} ${e.name}`))
      }),
  },
}
