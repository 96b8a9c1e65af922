// WebDAV state every node must see (locks and dead properties) lives on the shared storage next to the
// data, under <storage>/.ftpcluster-webdav/. Changes are serialised across nodes by a mutex file created
// with O_EXCL (atomic on local file systems and NFSv3+), and written with temp + fsync + rename.
import {randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {writeFileAtomic} from '../../config/atomic-file.js'

/** Name of the state directory at the storage root; WebDAV refuses it as a path segment. */
export const STATE_DIR = '.ftpcluster-webdav'
/** A mutex older than this was left by a crashed node and is broken. */
const STALE_MUTEX_MS = 10_000
const MUTEX_WAIT_MS = 5_000

export class SharedState {
  readonly root: string
  constructor(storage: string) {
    this.root = path.join(storage, STATE_DIR)
  }

  file(...parts: string[]): string {
    return path.join(this.root, ...parts)
  }

  async readJson<T>(file: string, fallback: T): Promise<T> {
    try {
      return JSON.parse(await fs.readFile(file, 'utf8')) as T
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fallback
      throw error
    }
  }

  async writeJson(file: string, value: unknown): Promise<void> {
    await fs.mkdir(path.dirname(file), {recursive: true, mode: 0o700})
    await writeFileAtomic(file, JSON.stringify(value), 0o600)
  }

  /** Runs `fn` holding the cluster-wide mutex `name` (a file created with O_EXCL; stale ones are broken). */
  async withMutex<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const file = this.file(`${name}.mutex`)
    await fs.mkdir(path.dirname(file), {recursive: true, mode: 0o700})
    const me = `${process.pid}-${randomBytes(6).toString('hex')}`
    const deadline = Date.now() + MUTEX_WAIT_MS
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.writeFile(file, me, {flag: 'wx', mode: 0o600})
        break
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        const st = await fs.stat(file).catch(() => null)
        if (st && Date.now() - st.mtimeMs > STALE_MUTEX_MS) {
          // break it by renaming: only one breaker wins the rename, the others retry the create
          const tomb = `${file}.stale-${me}`
          if (await fs.rename(file, tomb).then(() => true, () => false)) await fs.rm(tomb, {force: true})
          continue
        }
        if (Date.now() > deadline) throw new Error(`the WebDAV state mutex ${name} is held by another node; try again`)
        await new Promise((r) => setTimeout(r, Math.min(50, 2 + attempt * 5)))
      }
    }
    try {
      return await fn()
    } finally {
      const holder = await fs.readFile(file, 'utf8').catch(() => '')
      if (holder === me) await fs.rm(file, {force: true})
    }
  }
}
