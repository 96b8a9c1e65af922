// Durable atomic replacement of a file: write a temp file in the same directory, fsync it, rename it over
// the target, fsync the directory (PostgreSQL's durable_rename). A crash leaves the old or the new file.
import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'

export const TEMP_MARK = '.tmp-'

export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const dir = path.dirname(file)
  const tmp = path.join(dir, `${path.basename(file)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`)
  const handle = await fs.open(tmp, 'wx', mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } catch (error) {
    await handle.close().catch(() => {})
    await fs.rm(tmp, {force: true})
    throw error
  }
  await handle.close()
  try {
    await fs.rename(tmp, file)
  } catch (error) {
    await fs.rm(tmp, {force: true})
    throw error
  }
  await fsyncDir(dir)
}

export async function fsyncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}

/** Removes temp files a crash left behind in `dir`. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[])
  const stale = names.filter((n) => n.includes(TEMP_MARK))
  await Promise.all(stale.map((n) => fs.rm(path.join(dir, n), {force: true})))
  return stale
}
