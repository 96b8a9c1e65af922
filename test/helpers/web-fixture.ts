// Nodes with the web site for tests: real `cluster node` processes sharing one storage directory,
// registered as one cluster, with file users and web settings written on the primary (the way
// `cluster config set` will: read the configuration, change it, write it back with baseRevision).
import {spawn, type ChildProcess} from 'node:child_process'
import path from 'node:path'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus} from '../../src/protocol/index.js'
import {runCli} from './cli.js'
import {ADMIN_PASSWORD, createNode, pollUntil, type TestNode} from './node-process.js'

export const WEB_USER = 'alice'
export const WEB_PASSWORD = 'alice-web-password'
export const HTTPS_PORT = 8443
export const HTTP_PORT = 8080

export async function admin(host: string): Promise<AdminClient> {
  return AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
}

/** Changes the configuration on the primary and waits until every node runs the new revision. */
export async function changeConfig(primary: string, hosts: string[], mutate: (c: ClusterConfig) => void, summary = 'test change'): Promise<number> {
  const c = await admin(primary)
  let revision: number
  try {
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    mutate(config)
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision, changeSummary: summary}))
    revision = config.revision + 1
  } finally {
    c.close()
  }
  await waitRevision(hosts, revision)
  return revision
}

export async function waitRevision(hosts: string[], revision: number): Promise<void> {
  await pollUntil(async () => {
    const all = await Promise.all(hosts.map(async (ip) => {
      const a = await admin(ip)
      return a.exec<NodeStatus>('status', null).finally(() => a.close())
    }))
    return all.every((s) => s.revision >= revision)
  }, `revision ${revision} on ${hosts.join(', ')}`, 15_000, 100)
}

export interface WebCluster {
  nodes: TestNode[]
  hosts: string[]
  storage: string
  env: Record<string, string>
  stop(): Promise<void>
}

/** Starts `hosts` (first = primary) on one shared storage directory, plain HTTP on HTTP_PORT, user alice. */
export async function startWebCluster(root: string, hosts: string[], mutate?: (c: ClusterConfig) => void): Promise<WebCluster> {
  const storage = path.join(root, 'shared-storage')
  const nodes: TestNode[] = []
  for (const ip of hosts) nodes.push(await createNode(root, ip, ['--storage', storage]))
  await Promise.all(nodes.map((n) => n.start()))
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: hosts[0]}
  for (const ip of hosts.slice(1)) {
    const r = await runCli(['add-server', ip, '--json'], {env})
    if (r.code !== 0) throw new Error(`add-server ${ip}: ${r.stderr}${r.stdout}`)
  }
  const u = await runCli(['users', 'add', WEB_USER, '--password', WEB_PASSWORD, '--json'], {env})
  if (u.code !== 0) throw new Error(`users add: ${u.stderr}${u.stdout}`)
  await changeConfig(hosts[0], hosts, (c) => {
    c.sites.web.httpPort = HTTP_PORT
    c.defender.failDelayMs = 50
    mutate?.(c)
  }, 'web test settings')
  return {nodes, hosts, storage, env, stop: async () => void (await Promise.all(nodes.map((n) => n.stop())))}
}

const clients = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of clients) c.kill('SIGKILL')
})

/** Runs a client with no standard input (one that exits early cannot EPIPE the test) and a hard deadline. */
export function runQuiet(cmd: string, args: string[], timeoutMs = 60_000, env?: Record<string, string>, cwd?: string): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {stdio: ['ignore', 'pipe', 'pipe'], env: env ? {...process.env, ...env} : process.env, cwd})
    clients.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      clients.delete(child)
      resolve({code, stdout, stderr})
    })
  })
}
