// A real striped cluster for integration tests: a primary that is the gateway and N storage nodes, all real
// `cluster node start` processes joined by `add-server`, with the stripe section written on the primary.
// Plus a minimal FTP control client whose data sockets the test owns (to check where data came from).
import {once} from 'node:events'
import {readdirSync} from 'node:fs'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {connect as tlsConnect} from 'node:tls'
import path from 'node:path'
import {hashPassword} from '../../src/config/password.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus} from '../../src/protocol/index.js'
import {ADMIN_PASSWORD, createNode, pollUntil, type TestNode} from './node-process.js'

export const USER = 'alice'
export const PASSWORD = 'striped-wonderland'
export const GATEWAY_PORT = 2100

export interface StripeCluster {
  gateway: TestNode
  nodes: TestNode[]
  env: Record<string, string>
  change(mutate: (c: ClusterConfig) => void): Promise<void>
  status(host: string): Promise<NodeStatus>
  /** Waits until the gateway reports every storage node linked. */
  ready(timeoutMs?: number): Promise<void>
  url(pathName?: string): string
  stop(): Promise<void>
}

/** Pieces under a stripe data directory (sidecars and part files start with a dot); 0 if it does not exist. */
export function piecesUnder(dir: string): number {
  let n = 0
  const walk = (d: string) => {
    for (const e of readdirSync(d, {withFileTypes: true})) {
      if (e.isDirectory()) walk(path.join(d, e.name))
      else if (!e.name.startsWith('.')) n += 1
    }
  }
  try {
    walk(dir)
  } catch {}
  return n
}

/** Pieces on a test node's disk (its default stripe directory). */
export const pieceCount = (node: TestNode): number => piecesUnder(path.join(node.dir, 'files', '.stripe', 'data'))

/** One admin exec on `host` (the gateway's answers, without a CLI process per poll). */
export async function adminExec<T>(host: string, command: string, args: object | null = null): Promise<T> {
  const c = await admin(host)
  try {
    return await c.exec<T>(command, args)
  } finally {
    c.close()
  }
}

async function admin(host: string): Promise<AdminClient> {
  return AdminClient.connect({host, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
}

export async function startStripeCluster(root: string, gatewayIp: string, nodeIps: string[], opts: {replicas?: number; capacityBytes?: number; pasv?: (ip: string, i: number) => {min: number; max: number}; mutate?: (c: ClusterConfig) => void} = {}): Promise<StripeCluster> {
  // the data directories are independent: initialised side by side
  const [gateway, ...nodes] = await Promise.all([
    createNode(root, gatewayIp, ['--pasv-ports', '52000-52049']),
    ...nodeIps.map((ip, i) => {
      const r = opts.pasv?.(ip, i) ?? {min: 52100 + i * 50, max: 52149 + i * 50}
      return createNode(root, ip, ['--pasv-ports', `${r.min}-${r.max}`])
    }),
  ])
  // on any failure the caller never gets the cluster to stop: stop its processes here, or they outlive the test
  // (and keep the test process from ending)
  try {
    await Promise.all([gateway, ...nodes].map((n) => n.start()))
    const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_SECONDARY_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: path.join(root, 'cli'), CLUSTER_PRIMARY: gatewayIp}
    // the primary's add-server action, as `cluster add-server` sends it (without a CLI process per node)
    const joining = await admin(gatewayIp)
    try {
      for (const ip of nodeIps) await joining.exec('add-server', {host: ip, port: 14983, username: 'admin', password: ADMIN_PASSWORD})
    } finally {
      joining.close()
    }
    const change = async (mutate: (c: ClusterConfig) => void) => {
      const c = await admin(gatewayIp)
      try {
        const config = await c.readJson<ClusterConfig>(PATHS.config)
        mutate(config)
        await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
      } finally {
        c.close()
      }
    }
    const passwordHash = await hashPassword(PASSWORD)
    const statuses = await Promise.all(nodes.map(async (n) => {
      const c = await admin(n.bind)
      try {
        return await c.exec<NodeStatus>('status', null)
      } finally {
        c.close()
      }
    }))
    const gwStatus = await (async () => {
      const c = await admin(gatewayIp)
      try {
        return await c.exec<NodeStatus>('status', null)
      } finally {
        c.close()
      }
    })()
    await change((c) => {
      c.users.push({name: USER, passwordHash, publicKeys: [], home: '/alice', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
      c.defender.failDelayMs = 20
      c.stripe.enabled = true
      c.stripe.gateway = {nodeId: gwStatus.nodeId, host: gatewayIp, port: 14983}
      c.stripe.replicas = opts.replicas ?? 1
      c.stripe.freeSpaceFloorBytes = 0
      c.stripe.nodes = statuses.map((s, i) => ({nodeId: s.nodeId, host: nodeIps[i], port: 14983, capacityBytes: opts.capacityBytes ?? 1024 ** 3, state: 'active' as const}))
      opts.mutate?.(c)
    })
    const status = async (host: string) => {
      const c = await admin(host)
      try {
        return await c.exec<NodeStatus>('status', null)
      } finally {
        c.close()
      }
    }
    const cluster: StripeCluster = {
      gateway,
      nodes,
      env,
      change,
      status,
      async ready(timeoutMs = 60_000) {
        await pollUntil(async () => (await status(gatewayIp)).services.stripe === 'up', 'the gateway to link every storage node', timeoutMs, 100)
      },
      url: (pathName = '/') => `ftp://${USER}:${PASSWORD}@${gatewayIp}:${GATEWAY_PORT}${pathName}`,
      async stop() {
        await Promise.all([gateway, ...nodes].map((n) => n.stop()))
      },
    }
    await cluster.ready()
    return cluster
  } catch (error) {
    await Promise.all([gateway, ...nodes].map((n) => n.stop()))
    throw error
  }
}

/** A bare FTP control connection from a chosen local address: the test drives it line by line. */
export class FtpControl {
  private buffer = ''
  private waiters: ((line: string) => void)[] = []
  private lines: string[] = []

  private constructor(public socket: Socket) {
    this.attach(socket)
  }

  /** The TLS session of the control connection (after `secure()`), for the data connections to resume. */
  session: Buffer | undefined

  /** AUTH TLS, then PBSZ 0 and PROT P. */
  async secure(): Promise<void> {
    const r = await this.cmd('AUTH TLS')
    if (!r.startsWith('234')) throw new Error(`AUTH TLS refused: ${r}`)
    this.socket.removeAllListeners('data')
    const tls = tlsConnect({socket: this.socket, rejectUnauthorized: false})
    tls.on('session', (s: Buffer) => (this.session = s))
    await once(tls, 'secureConnect')
    this.socket = tls
    this.attach(tls)
    for (const line of ['PBSZ 0', 'PROT P']) {
      const x = await this.cmd(line)
      if (!x.startsWith('200')) throw new Error(`${line} refused: ${x}`)
    }
  }

  private attach(socket: Socket): void {
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      this.buffer += d
      let nl: number
      while ((nl = this.buffer.indexOf('\r\n')) >= 0) {
        const line = this.buffer.slice(0, nl)
        this.buffer = this.buffer.slice(nl + 2)
        // only final lines of a reply ("123 text"), multi-line bodies are skipped
        if (!/^\d{3} /.test(line)) continue
        const w = this.waiters.shift()
        if (w) w(line)
        else this.lines.push(line)
      }
    })
  }

  static async open(host: string, port: number, localAddress: string): Promise<FtpControl> {
    const socket = connect({host, port, localAddress})
    await once(socket, 'connect')
    const c = new FtpControl(socket)
    await c.reply()
    return c
  }

  reply(timeoutMs = 15_000): Promise<string> {
    const l = this.lines.shift()
    if (l !== undefined) return Promise.resolve(l)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no FTP reply within the deadline')), timeoutMs)
      this.waiters.push((line) => {
        clearTimeout(timer)
        resolve(line)
      })
    })
  }

  async cmd(line: string): Promise<string> {
    this.socket.write(line + '\r\n')
    return this.reply()
  }

  async login(user = USER, password = PASSWORD): Promise<void> {
    await this.cmd(`USER ${user}`)
    const r = await this.cmd(`PASS ${password}`)
    if (!r.startsWith('230')) throw new Error(`login failed: ${r}`)
  }

  /** Listens on the client's address and sends PORT; resolves the accepted data socket's peer and bytes. */
  async activeListener(localAddress: string): Promise<{server: Server; port: number; accepted: Promise<{peer: string; data: Buffer}>}> {
    const server = createServer()
    await new Promise<void>((r) => server.listen({host: localAddress, port: 0}, () => r()))
    const port = (server.address() as {port: number}).port
    const accepted = new Promise<{peer: string; data: Buffer}>((resolve) => {
      server.once('connection', (s: Socket) => {
        const chunks: Buffer[] = []
        s.on('data', (d: Buffer) => chunks.push(d))
        s.on('end', () => {
          server.close()
          resolve({peer: s.remoteAddress ?? '', data: Buffer.concat(chunks)})
        })
      })
    })
    const r = await this.cmd(`PORT ${localAddress.split('.').join(',')},${port >> 8},${port & 255}`)
    if (!r.startsWith('200')) throw new Error(`PORT refused: ${r}`)
    return {server, port, accepted}
  }

  close(): void {
    this.socket.destroy()
  }
}
