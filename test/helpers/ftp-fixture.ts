// Shared fixture of the FTP integration tests (kept under the ftp-*.test.ts name so it is compiled with
// them; it declares no tests): a real ConfigStore in a temp dir, an in-process FtpService, client helpers.
import {spawn, type ChildProcess} from 'node:child_process'
import {createHash} from 'node:crypto'
import {promises as fs, createReadStream} from 'node:fs'
import {connect, type Socket} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {initNodeDir, readNodeSettings} from '../../src/config/node-dir.js'
import {hashPassword} from '../../src/config/password.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {ConfigStore} from '../../src/config/store.js'
import {FtpService} from '../../src/daemon/ftp/ftp-service.js'
import {createLogger} from '../../src/daemon/log.js'
import {Defender} from '../../src/net/defender.js'

export const USER = 'alice'
export const PASSWORD = 'wonderland'

export interface FtpFixture {
  dir: string
  storage: string
  home: string
  bind: string
  ftpPort: number
  ftpsPort: number
  store: ConfigStore
  defender: Defender
  service: FtpService
  url(scheme?: 'ftp' | 'ftps', pathName?: string): string
  stop(): Promise<void>
}

export interface FixtureOptions {
  bind: string
  ftpPort: number
  ftpsPort: number
  pasvMin: number
  pasvMax: number
  mutate?: (c: ClusterConfig) => void
}

export {hasTool} from './tools.js'

export async function startFtp(o: FixtureOptions): Promise<FtpFixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ftp-test-'))
  const storage = path.join(dir, 'storage')
  await initNodeDir(path.join(dir, 'node'), {bind: o.bind, adminUser: 'admin', adminPassword: 'x', storage, ftpPort: o.ftpPort, ftpsPort: o.ftpsPort, sftpPort: o.ftpPort + 7, adminPort: o.ftpPort + 8})
  const store = await ConfigStore.open(path.join(dir, 'node'))
  const passwordHash = await hashPassword(PASSWORD)
  await store.change((c) => {
    c.users.push({name: USER, passwordHash, publicKeys: [], home: '/alice', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
    c.sites.files.ftp.pasvPortMin = o.pasvMin
    c.sites.files.ftp.pasvPortMax = o.pasvMax
    c.defender.failDelayMs = 20
    o.mutate?.(c)
  }, {by: 'test', from: 'local', summary: 'ftp test user'})
  const settings = await readNodeSettings(path.join(dir, 'node'))
  const defender = new Defender(store.current.defender)
  const log = createLogger('ftp-test', (process.env.FTP_TEST_LOG as 'debug' | undefined) ?? 'error')
  const service = new FtpService({dataDir: path.join(dir, 'node'), settings, store, defender, log, draining: () => false}, {dataTimeoutMs: 5000})
  store.on('change', (next: ClusterConfig, prev: ClusterConfig) => {
    defender.update(next.defender)
    void service.reload(next, prev)
  })
  await service.start()
  const home = path.join(storage, 'alice')
  await fs.mkdir(home, {recursive: true})
  return {
    dir, storage, home, bind: o.bind, ftpPort: o.ftpPort, ftpsPort: o.ftpsPort, store, defender, service,
    url(scheme = 'ftp', pathName = '/') {
      const port = scheme === 'ftps' ? o.ftpsPort : o.ftpPort
      return `${scheme}://${USER}:${PASSWORD}@${o.bind}:${port}${pathName}`
    },
    async stop() {
      await service.stop(1000)
      await fs.rm(dir, {recursive: true, force: true})
    },
  }
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a client with a hard deadline; the process is killed when the deadline passes. */
export function run(cmd: string, args: string[], timeoutMs = 60_000, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {stdio: ['pipe', 'pipe', 'pipe']})
    tracked.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      tracked.delete(child)
      resolve({code, stdout, stderr})
    })
    child.stdin.on('error', () => {}) // a client that exits before reading its stdin
    child.stdin.end(input ?? '')
  })
}

/** Every spawned client, so `after` hooks can kill what is still running. */
export const tracked = new Set<ChildProcess>()
export function killAll(): void {
  for (const c of tracked) c.kill('SIGKILL')
  tracked.clear()
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(file).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject)
  })
}

/** A raw control connection that reads replies (multi-line aware). */
export class RawFtp {
  private buf = ''
  private waiters: (() => void)[] = []
  closed = false
  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      this.buf += d
      this.wake()
    })
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    socket.on('error', () => {})
  }

  static connect(host: string, port: number, localAddress?: string): Promise<RawFtp> {
    return new Promise((resolve, reject) => {
      const s = connect({host, port, localAddress})
      s.once('connect', () => resolve(new RawFtp(s)))
      s.once('error', reject)
    })
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** Next complete reply, or null when the connection closed first (deadline bounded). */
  async reply(timeoutMs = 5000): Promise<{code: number; text: string} | null> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(this.buf)
      if (m) {
        const end = m.index + m[0].length
        const text = this.buf.slice(0, end)
        this.buf = this.buf.slice(end)
        return {code: Number(m[1]), text}
      }
      if (this.closed) return null
      const left = until - Date.now()
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms (have: ${JSON.stringify(this.buf)})`)
      await new Promise<void>((r) => {
        const t = setTimeout(r, left)
        this.waiters.push(() => {
          clearTimeout(t)
          r()
        })
      })
    }
  }

  async cmd(line: string, timeoutMs?: number): Promise<{code: number; text: string} | null> {
    this.socket.write(line + '\r\n')
    return this.reply(timeoutMs)
  }

  async login(user = USER, password = PASSWORD): Promise<number | undefined> {
    await this.cmd(`USER ${user}`)
    return (await this.cmd(`PASS ${password}`))?.code
  }

  close(): void {
    this.socket.destroy()
  }
}
