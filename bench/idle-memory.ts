// Memory of a node at rest: RSS of the whole process tree (supervisor + workers) idle, then with 200 idle SFTP
// sessions spread over the workers, and what one idle session costs. Targets (issue 12): ≤ 80 MiB per worker
// idle, ≤ 64 KiB per idle session. Loopback only: 127.0.19.3.
//   node dist/bench/idle-memory.js [--sessions 200] [--workers N]
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import ssh2 from 'ssh2'
import {hashPassword} from '../src/config/password.js'
import type {ClusterConfig} from '../src/config/schema.js'
import {AdminClient} from '../src/protocol/admin-client.js'
import {PATHS} from '../src/protocol/index.js'
import {sampleTree} from './proc-tree.js'

const HOST = '127.0.19.3'
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const sessions = arg('sessions', 200)
const workers = arg('workers', os.availableParallelism())

// key authentication: scrypt's 16 MiB per password check would stay in glibc's arenas and read as session cost
const KEY = ssh2.utils.generateKeyPairSync('ed25519')

function openSession(): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    client.once('error', reject)
    client.once('ready', () => client.sftp((err) => (err ? reject(err) : resolve(client))))
    client.connect({host: HOST, port: 2222, username: 'idle', privateKey: KEY.private, readyTimeout: 30_000})
  })
}

const settle = () => new Promise((r) => setTimeout(r, 3000))

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-mem-'))
  let node: ChildProcess | undefined
  const clients: ssh2.Client[] = []
  try {
    const init = spawnSync(process.execPath, [CLI, 'node', 'init', path.join(dir, 'node'), '--bind', HOST], {env: {...process.env, CLUSTER_ADMIN_PASSWORD: 'idle-admin-pw'}})
    if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`)
    node = spawn(process.execPath, [CLI, 'node', 'start', path.join(dir, 'node'), '--workers', String(workers)], {stdio: ['ignore', 'ignore', 'pipe'], env: {...process.env, CLUSTER_LOG_LEVEL: 'warn'}})
    await new Promise<void>((resolve, reject) => {
      const until = Date.now() + 20_000
      const poll = () => AdminClient.connect({host: HOST, port: 14983, credentials: {username: 'admin', password: 'idle-admin-pw'}, checkHostKey: () => {}}).then((c) => (c.close(), resolve()), () => (Date.now() > until ? reject(new Error('node did not start')) : setTimeout(poll, 200)))
      poll()
    })
    const admin = await AdminClient.connect({host: HOST, port: 14983, credentials: {username: 'admin', password: 'idle-admin-pw'}, checkHostKey: () => {}})
    const config = await admin.readJson<ClusterConfig>(PATHS.config)
    config.users.push({name: 'idle', passwordHash: await hashPassword('idle-password-1'), publicKeys: [KEY.public.trim()], home: '/idle', permissions: ['list'], disabled: false})
    config.limits = {...config.limits, perAddress: sessions + 16, unauthenticatedPerAddress: sessions + 16, total: sessions * 2}
    config.defender = {...config.defender, failDelayMs: 0}
    await admin.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    admin.close()
    await settle()
    // one warm-up session per worker first: the first session of a process loads code that later ones share
    for (let i = 0; i < workers; i++) clients.push(await openSession())
    await settle()
    const idle = sampleTree(node.pid!)
    for (let i = 0; i < sessions; i += 20) clients.push(...(await Promise.all(Array.from({length: Math.min(20, sessions - i)}, openSession))))
    await settle()
    const busy = sampleTree(node.pid!)
    const perSessionKiB = ((busy.rssMiB - idle.rssMiB) * 1024) / sessions
    const perWorker = (idle.rssMiB - (idle.perProcess[0]?.rssMiB ?? 0)) / Math.max(1, idle.processes - 1)
    console.log(`idle memory, ${workers} workers, ${sessions} idle SFTP sessions (ssh2 clients), loopback ${HOST}`)
    console.log(`  tree idle        ${idle.rssMiB} MiB in ${idle.processes} processes (supervisor ${idle.perProcess[0]?.rssMiB} MiB, ${perWorker.toFixed(1)} MiB per worker; target ≤ 80 MiB per worker)`)
    console.log(`  tree, sessions   ${busy.rssMiB} MiB: ${busy.perProcess.map((p) => `${p.rssMiB}`).join(' + ')}`)
    console.log(`  per idle session ${perSessionKiB.toFixed(1)} KiB (target ≤ 64 KiB)`)
  } finally {
    for (const c of clients) c.end()
    if (node?.pid && node.exitCode === null) node.kill('SIGKILL')
    rmSync(dir, {recursive: true, force: true})
  }
}

main().catch((error: Error) => {
  console.error(error.message)
  process.exit(2)
})
