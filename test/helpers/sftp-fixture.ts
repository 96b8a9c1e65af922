// A real SftpService in-process on 127.0.20.1 with a real ConfigStore, driven by real clients.
// Only addresses of 127.0.20.0/24 are used (other suites use other ranges).
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {needs} from './tools.js'
import {initNodeDir, readNodeSettings} from '../../src/config/node-dir.js'
import {hashPassword} from '../../src/config/password.js'
import {ALL_PERMISSIONS, type Permission} from '../../src/config/schema.js'
import {ConfigStore} from '../../src/config/store.js'
import {createLogger} from '../../src/daemon/log.js'
import {SftpService} from '../../src/daemon/sftp/sftp-service.js'
import {Defender} from '../../src/net/defender.js'

export const HOST = '127.0.20.1'
export const PASSWORD = 'correct horse'

interface After {
  after(fn: () => unknown): void
}

export interface Fixture {
  dir: string
  storage: string
  home: string
  port: number
  key: string
  store: ConfigStore
  defender: Defender
  service: SftpService
  /** Runs `sftp -b -` with `batch` on stdin as alice (public key), from `bind` (default 127.0.20.1). */
  sftp(batch: string, opts?: {bind?: string; user?: string; extra?: string[]; timeoutMs?: number}): Promise<Result>
  /** Spawns a client in its own process group; it is killed in `after`. */
  spawnTracked(cmd: string, args: string[], input?: string): ChildProcess
}

export interface Result {
  code: number | null
  stdout: string
  stderr: string
}

/** A skip message naming the missing tools (with a notice), or undefined when all are there. */
export function missingTools(...tools: string[]): string | undefined {
  return needs(...tools) || undefined
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const a = s.address() as net.AddressInfo
      s.close(() => resolve(a.port))
    })
  })
}

export function collect(child: ChildProcess, timeoutMs: number): Promise<Result> {
  return new Promise((resolve) => {
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => killGroup(child), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    })
  })
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    child.kill('SIGKILL')
  }
}

/** Polls `check` until it returns true or the deadline passes. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

export async function startFixture(t: After, opts: {permissions?: Permission[]} = {}): Promise<Fixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ftpcluster-sftp-'))
  const children = new Set<ChildProcess>()
  t.after(async () => {
    for (const c of children) killGroup(c)
    await rm(dir, {recursive: true, force: true})
  })
  const storage = path.join(dir, 'storage')
  const port = await freePort(HOST)
  await initNodeDir(path.join(dir, 'node'), {bind: HOST, adminUser: 'admin', adminPassword: 'x', storage, sftpPort: port})
  const key = path.join(dir, 'id_ed25519')
  const kg = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', key])
  if (kg.status !== 0) throw new Error(`ssh-keygen failed: ${kg.stderr}`)
  const publicKey = (await readFile(key + '.pub', 'utf8')).trim()
  const store = await ConfigStore.open(path.join(dir, 'node'))
  const hash = await hashPassword(PASSWORD)
  await store.change(
    (c) => {
      c.users.push({name: 'alice', passwordHash: hash, publicKeys: [publicKey], home: '/alice', permissions: opts.permissions ?? [...ALL_PERMISSIONS], disabled: false})
      c.users.push({name: 'reader', passwordHash: hash, publicKeys: [publicKey], home: '/alice', permissions: ['list', 'download'], disabled: false})
      c.defender.failDelayMs = 5
    },
    {by: 'test', from: 'local', summary: 'test users'},
  )
  const settings = await readNodeSettings(path.join(dir, 'node'))
  const defender = new Defender(store.current.defender)
  const service = new SftpService({
    dataDir: path.join(dir, 'node'),
    settings,
    store,
    defender,
    log: createLogger('sftp-test', 'warn'),
    draining: () => false,
  })
  await service.start()
  t.after(() => service.stop(2000))
  const spawnTracked = (cmd: string, args: string[], input?: string) => {
    const child = spawn(cmd, args, {detached: true, stdio: ['pipe', 'pipe', 'pipe']})
    children.add(child)
    child.on('close', () => children.delete(child))
    if (input !== undefined) child.stdin?.end(input)
    else child.stdin?.end()
    return child
  }
  const sftp: Fixture['sftp'] = (batch, o = {}) => {
    const args = [
      '-b', '-', '-P', String(port), '-i', key,
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
      '-o', `BindAddress=${o.bind ?? HOST}`, ...(o.extra ?? []), `${o.user ?? 'alice'}@${HOST}`,
    ]
    return collect(spawnTracked('sftp', args, batch), o.timeoutMs ?? 30_000)
  }
  return {dir, storage, home: path.join(storage, 'alice'), port, key, store, defender, service, sftp, spawnTracked}
}
