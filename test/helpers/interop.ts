// Interop fixtures: a real node (`cluster node start`) with a user alice (password and key), and a
// reference OpenSSH sshd serving a temp directory, both on the caller's loopback addresses; clients run in
// their own process groups and are killed when the test ends.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {hashPassword} from '../../src/config/password.js'
import {ALL_PERMISSIONS, type ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {DEFAULT_SFTP_PORT, PATHS} from '../../src/protocol/index.js'
import {ADMIN_PASSWORD, createNode, sshKey, tempDir, type TestNode} from './node-process.js'
import {collect, killGroup, type Result} from './sftp-fixture.js'

export const USER = 'alice'
export const PASSWORD = 'interop-password-1'

/** An SFTP server a client can be pointed at: ours or OpenSSH's. */
export interface Target {
  name: 'ftpcluster' | 'openssh'
  host: string
  port: number
  user: string
  /** Where a client path "x" lands on disk. */
  home: string
  /** What a client passes for a file "x" in that home. */
  remote(name: string): string
}

export interface Clients {
  root: string
  key: string
  /** Spawns a client in its own process group (killed by `cleanup`); resolves with its outcome. */
  run(cmd: string, args: string[], opts?: {input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv}): Promise<Result>
  /** ssh/scp/sftp options for batch use against `t` (without the port flag, which differs: -p / -P). */
  sshOptions(t: Target): string[]
  cleanup(): Promise<void>
}

export function clients(root = tempDir('ftpcluster-interop-')): Clients {
  const {privateKey} = sshKey(root)
  const children = new Set<ChildProcess>()
  return {
    root,
    key: privateKey,
    run(cmd, args, opts = {}) {
      const child = spawn(cmd, args, {detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env})
      children.add(child)
      child.on('close', () => children.delete(child))
      child.stdin?.on('error', () => {})
      child.stdin?.end(opts.input ?? '')
      return collect(child, opts.timeoutMs ?? 60_000)
    },
    sshOptions: (t) => [
      '-i', privateKey, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
      '-o', 'LogLevel=ERROR', '-o', 'IdentitiesOnly=yes',
    ],
    async cleanup() {
      for (const c of children) killGroup(c)
    },
  }
}

/** A real node on `bind` whose user alice may do everything in /alice; alice logs in with `publicKey` or PASSWORD. */
export async function startNode(root: string, bind: string, publicKeyFile: string): Promise<{node: TestNode; target: Target; storage: string}> {
  const storage = path.join(root, `storage-${bind}`)
  const node = await createNode(root, bind, ['--storage', storage])
  await node.start()
  const c = await AdminClient.connect({host: bind, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
  try {
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    const publicKey = readFileSync(publicKeyFile, 'utf8').trim()
    config.users.push({name: USER, passwordHash: await hashPassword(PASSWORD), publicKeys: [publicKey], home: '/alice', permissions: [...ALL_PERMISSIONS], disabled: false})
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
  } finally {
    c.close()
  }
  const home = path.join(storage, 'alice')
  mkdirSync(home, {recursive: true})
  await waitForPort(bind, DEFAULT_SFTP_PORT)
  return {node, storage, target: {name: 'ftpcluster', host: bind, port: DEFAULT_SFTP_PORT, user: USER, home, remote: (n) => n}}
}

/** Why OpenSSH comparisons cannot run here, or false. */
export function noOpenSsh(): string | false {
  if (process.getuid?.() !== 0) return 'skipped: the OpenSSH reference sshd needs root'
  if (spawnSync('sh', ['-c', 'test -x /usr/sbin/sshd && test -x /usr/lib/openssh/sftp-server']).status !== 0) return 'skipped: openssh-server / openssh-sftp-server not installed'
  return false
}

/** OpenSSH's sshd on `bind` (root, key only) serving `dir`; a client path "x" means `dir`/x. */
export async function startOpenSsh(root: string, bind: string, publicKeyFile: string): Promise<{target: Target; stop(): void}> {
  const dir = path.join(root, `sshd-${bind}`)
  const home = path.join(dir, 'home')
  mkdirSync(home, {recursive: true})
  const hostKey = path.join(dir, 'host_key')
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey])
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(publicKeyFile, 'utf8'), {mode: 0o600})
  mkdirSync('/run/sshd', {recursive: true, mode: 0o755})
  const port = 2222
  const cfg = path.join(dir, 'sshd_config')
  writeFileSync(cfg, [
    `ListenAddress ${bind}:${port}`, `HostKey ${hostKey}`, `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no',
    `PidFile ${path.join(dir, 'sshd.pid')}`, 'Subsystem sftp /usr/lib/openssh/sftp-server', 'MaxStartups 100', 'MaxSessions 100', '',
  ].join('\n'))
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], {stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  sshd.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)))
  try {
    await waitForPort(bind, port)
  } catch (error) {
    sshd.kill('SIGKILL')
    throw new Error(`${(error as Error).message}; sshd said: ${log}`)
  }
  return {
    target: {name: 'openssh', host: bind, port, user: 'root', home, remote: (n) => path.join(home, n)},
    stop: () => void (sshd.pid && sshd.exitCode === null && sshd.kill('SIGTERM')),
  }
}

export async function waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => (s.destroy(), resolve(true))).once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${host}:${port} did not open in ${timeoutMs} ms`)
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex')
}

/** A file of `size` pseudo-random bytes (seeded, so reruns compare alike), written once per path. */
export function randomFile(file: string, size: number, seed = 1): string {
  const buf = Buffer.allocUnsafe(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    buf.writeUInt32LE(x >>> 0, i)
  }
  for (let i = size - (size % 4); i < size; i++) buf[i] = i & 0xff
  writeFileSync(file, buf)
  return file
}
