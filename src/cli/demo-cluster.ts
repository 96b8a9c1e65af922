// A local demo cluster: N node processes on consecutive loopback addresses, joined to the first one, with a
// demo user; every process is stopped and the data removed when the demo ends.
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {hashPassword} from '../config/password.js'
import {AdminClient} from '../protocol/admin-client.js'
import {OperationError, type AddServerResult, type NodeStatus} from '../protocol/index.js'
import {editConfig, readConfig} from './config-edit.js'

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/run.js')

export interface DemoOptions {
  nodes: number
  firstAddress: string
  dir?: string
  /** A striped cluster: the first address is the primary and gateway, `nodes` storage nodes follow it. */
  stripe?: boolean
  onStep(message: string): void
}

export interface DemoCluster {
  dir: string
  storage: string
  addresses: string[]
  adminPassword: string
  user: {name: string; password: string}
  /** With --stripe: the gateway's FTP address and SFTP port, and the storage nodes' addresses. */
  stripe: {gateway: string; ftpPort: number; sftpPort: number; replicas: number; storageNodes: string[]} | null
  /** Resolves when a node exits unexpectedly. */
  crashed: Promise<string>
  stop(): Promise<void>
}

function addressAt(first: string, i: number): string {
  const parts = first.split('.').map(Number)
  if (parts.length !== 4 || parts[0] !== 127) throw new OperationError('invalid', `--address ${first}: the demo runs on loopback, e.g. 127.0.0.2`)
  const last = parts[3] + i
  if (last > 254) throw new OperationError('invalid', 'not enough loopback addresses after --address for that many nodes')
  return `${parts[0]}.${parts[1]}.${parts[2]}.${last}`
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new OperationError('refused', `\`cluster ${args.join(' ')}\` failed: ${out.trim()}`))))
  })
}

export async function startDemo(opts: DemoOptions): Promise<DemoCluster> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-demo-'))
  const adminPassword = randomBytes(9).toString('base64url')
  const env = {...process.env, CLUSTER_ADMIN_PASSWORD: adminPassword}
  // the gateway stores no file data: with --stripe it comes in front of the storage nodes
  const addresses = Array.from({length: opts.nodes + (opts.stripe ? 1 : 0)}, (_, i) => addressAt(opts.firstAddress, i))
  const children: ChildProcess[] = []
  let crash!: (m: string) => void
  const crashed = new Promise<string>((r) => (crash = r))
  let stopping = false
  const stop = async () => {
    stopping = true
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve()
      const t = setTimeout(() => c.kill('SIGKILL'), 5000)
      c.once('exit', () => {
        clearTimeout(t)
        resolve()
      })
      c.kill('SIGTERM')
    })))
    if (!opts.dir) rmSync(dir, {recursive: true, force: true})
  }
  try {
    opts.onStep(`initialising ${opts.nodes} nodes in ${dir}`)
    // One storage root for all nodes stands in for a shared mount: a file uploaded through one node is
    // downloadable through any other.
    const storage = path.join(dir, 'shared-files')
    // with --stripe every node has its own stripe directory: a shared one would make them one disk
    const stripeDir = (a: string) => (opts.stripe ? ['--stripe-dir', path.join(dir, a, 'stripe')] : [])
    await Promise.all(addresses.map((a) => run(['node', 'init', path.join(dir, a), '--bind', a, '--storage', storage, ...stripeDir(a)], env)))
    opts.onStep(`starting nodes on ${addresses.join(', ')}`)
    await Promise.all(addresses.map((a) => new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'node', 'start', path.join(dir, a)], {env, stdio: ['ignore', 'ignore', 'pipe']})
      children.push(child)
      let log = ''
      child.stderr.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-4000)
        if (/\] ready /.test(log)) resolve()
      })
      child.on('exit', (code) => {
        reject(new OperationError('refused', `node ${a} exited (${code}): ${log.trim().split('\n').slice(-2).join(' ')}`))
        if (!stopping) crash(`node ${a} exited with ${code}`)
      })
    })))
    const client = await AdminClient.connect({host: addresses[0], port: 14983, credentials: {username: 'admin', password: adminPassword}, checkHostKey: () => {}})
    try {
      for (const a of addresses.slice(1)) {
        opts.onStep(`add-server ${a}`)
        await client.exec<AddServerResult>('add-server', {host: a, port: 14983, username: 'admin', password: adminPassword})
      }
      const user = {name: 'demo', password: 'demo-password'}
      const passwordHash = await hashPassword(user.password)
      opts.onStep(`adding user "${user.name}"`)
      await editConfig(client, (c) => {
        c.users.push({name: user.name, passwordHash, publicKeys: [], home: '/demo', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
      }, 'demo: users add demo')
      const stripe = opts.stripe ? await enableStripe(client, addresses, env, opts.onStep) : null
      // Ready means every node serves the user: wait for the push instead of racing it.
      if (addresses.length > 1) await client.exec('sync', {check: true})
      if (stripe) await waitForGateway(client, opts.onStep)
      return {dir, storage: path.join(dir, 'shared-files'), addresses, adminPassword, user, stripe, crashed, stop}
    } finally {
      client.close()
    }
  } catch (error) {
    await stop()
    throw error
  }
}

const STRIPE_REPLICAS = 2

/** The striped cluster of the demo: the primary is the gateway, the others are storage nodes of 1 GiB each,
 *  through the same CLI commands an operator types. */
async function enableStripe(client: AdminClient, addresses: string[], env: NodeJS.ProcessEnv, onStep: (m: string) => void): Promise<NonNullable<DemoCluster['stripe']>> {
  const [gateway, ...storageNodes] = addresses
  const cli = {...env, CLUSTER_PRIMARY: gateway, CLUSTER_PASSWORD: env.CLUSTER_ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(os.tmpdir(), `ftpcluster-demo-cli-${process.pid}`)}
  const known = ['--host-key', await client.exec<NodeStatus>('status', null).then((s) => s.hostKeyFingerprint)]
  try {
    for (const a of storageNodes) {
      onStep(`stripe add-node ${a}`)
      await run(['stripe', 'add-node', a, '--capacity', '1G', ...known], cli)
    }
    const replicas = Math.min(STRIPE_REPLICAS, storageNodes.length)
    onStep(`stripe enable ${gateway} --replicas ${replicas}`)
    await run(['stripe', 'enable', gateway, '--replicas', String(replicas), ...known], cli)
  } finally {
    rmSync(cli.CLUSTER_CONFIG_DIR, {recursive: true, force: true})
  }
  const config = await readConfig(client)
  return {gateway, ftpPort: config.stripe.port, sftpPort: config.stripe.sftpPort, replicas: config.stripe.replicas, storageNodes}
}

/** The gateway serves once it has linked every storage node (bounded: 30 s). */
async function waitForGateway(client: AdminClient, onStep: (m: string) => void): Promise<void> {
  onStep('waiting for the gateway to link the storage nodes')
  const deadline = Date.now() + 30_000
  for (let i = 0; i < 300; i++) {
    const s = await client.exec<NodeStatus>('status', null)
    if (s.services.stripe === 'up') return
    if (Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new OperationError('refused', 'the demo gateway did not link its storage nodes within 30 s', 'run the demo again; if it persists, run it with --dir DIR and read the nodes\' logs')
}
