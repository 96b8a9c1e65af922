// A real cluster of node processes built with the CLI (node init, node start, add-server), for failover tests.
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus} from '../../src/protocol/index.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import path from 'node:path'
import assert from 'node:assert/strict'
import ssh2 from 'ssh2'
import {runCli, type CliResult} from './cli.js'
import {ADMIN_PASSWORD, createNode, type TestNode} from './node-process.js'

export async function admin(host: string, timeoutMs = 5000): Promise<AdminClient> {
  return AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}, timeoutMs})
}

export async function statusOf(host: string): Promise<NodeStatus> {
  const c = await admin(host)
  try {
    return await c.exec<NodeStatus>('status', null)
  } finally {
    c.close()
  }
}

export async function configOf(host: string): Promise<ClusterConfig> {
  const c = await admin(host)
  try {
    return await c.readJson<ClusterConfig>(PATHS.config)
  } finally {
    c.close()
  }
}

export interface TestCluster {
  nodes: Record<string, TestNode>
  env: Record<string, string>
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>
  stopAll(): Promise<void>
}

/** Nodes on `ips`, the first one the primary, the others added with `add-server`. */
export async function buildCluster(root: string, ips: string[]): Promise<TestCluster> {
  const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: ips[0]}
  const nodes: Record<string, TestNode> = {}
  for (const ip of ips) nodes[ip] = await createNode(root, ip)
  await Promise.all(ips.map((ip) => nodes[ip].start()))
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, {env: {...env, ...extra}})
  for (const ip of ips.slice(1)) {
    const r = await cli(['add-server', ip, '--json'])
    if (r.code !== 0) throw new Error(`add-server ${ip} failed (${r.code}): ${r.stderr}${r.stdout}`)
  }
  return {nodes, env, cli, stopAll: async () => void (await Promise.all(Object.values(nodes).map((n) => n.stop())))}
}

/** epoch, revision and hash of every reachable node in `ips`, or the first error. */
export async function states(ips: string[]): Promise<NodeStatus[]> {
  return Promise.all(ips.map(statusOf))
}

export function converged(all: NodeStatus[]): boolean {
  const [a] = all
  return all.every((s) => s.epoch === a.epoch && s.revision === a.revision && s.hash === a.hash) && all.filter((s) => s.role === 'primary').length === 1
}

/** True when the files site of `host` lets `user` log in with `password` over SFTP. */
export function loginWorks(host: string, user: string, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = new ssh2.Client()
    const done = (ok: boolean) => {
      c.end()
      resolve(ok)
    }
    c.once('ready', () => done(true))
    c.once('error', () => done(false))
    c.connect({host, port: 2222, username: user, password, readyTimeout: 5000, hostVerifier: () => true})
  })
}

/** Exit time of a node after SIGTERM, in ms (SIGKILL after 10 s so the test always ends). */
export async function stopTimed(node: TestNode): Promise<number> {
  const p = node.process!
  const t0 = Date.now()
  const exited = new Promise<void>((r) => p.once('exit', () => r()))
  p.kill('SIGTERM')
  const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
  // The daemon's last-resort exit names what was left open; it must not be what ended the process.
  assert.doesNotMatch(node.log, /still open after stop/)
  return Date.now() - t0
}

export function jsonError(stdout: string): {code: string; message: string; hint?: string} {
  return (JSON.parse(stdout) as {error: {code: string; message: string; hint?: string}}).error
}

