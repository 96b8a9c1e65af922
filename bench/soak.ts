// Soak (reliability item 18): one real node (supervisor + workers, the whole process tree sampled), many clients mixing SFTP uploads, downloads and listings (ssh2)
// and FTP transfers (curl) for a while; samples the node's RSS and open file descriptors, and checks that the
// descriptors return to the baseline afterwards. Not a test: run it by hand.
//   node dist/bench/soak.js [--minutes 30] [--clients 200] [--ftp-parallel 8] [--workers N]
// Loopback only: 127.0.19.2.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import ssh2, {type SFTPWrapper} from 'ssh2'
import {hashPassword} from '../src/config/password.js'
import type {ClusterConfig} from '../src/config/schema.js'
import {AdminClient} from '../src/protocol/admin-client.js'
import {PATHS} from '../src/protocol/index.js'
import {sampleTree} from './proc-tree.js'

const HOST = '127.0.19.2'
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const minutes = arg('minutes', 30)
const clients = arg('clients', 200)
const ftpParallel = arg('ftp-parallel', 8)
const workers = arg('workers', os.availableParallelism())

function sample(pid: number): {rssMiB: number; fds: number} {
  const t = sampleTree(pid)
  return {rssMiB: t.rssMiB, fds: t.fds}
}

function login(): Promise<{client: ssh2.Client; sftp: SFTPWrapper}> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client()
    client.once('error', reject)
    client.once('ready', () => client.sftp((err, sftp) => (err ? reject(err) : resolve({client, sftp}))))
    client.connect({host: HOST, port: 2222, username: 'soak', password: 'soak-password', readyTimeout: 20_000})
  })
}

const cb = <T>(fn: (done: (err: Error | null | undefined, v?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))))

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-soak-'))
  let node: ChildProcess | undefined
  const cleanup = () => {
    if (node?.pid && node.exitCode === null) node.kill('SIGKILL')
    rmSync(dir, {recursive: true, force: true})
  }
  process.once('SIGINT', () => {
    cleanup()
    process.exit(130)
  })
  try {
    const init = spawnSync(process.execPath, [CLI, 'node', 'init', path.join(dir, 'node'), '--bind', HOST], {env: {...process.env, CLUSTER_ADMIN_PASSWORD: 'soak-admin-pw'}})
    if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`)
    node = spawn(process.execPath, [CLI, 'node', 'start', path.join(dir, 'node'), '--workers', String(workers)], {stdio: ['ignore', 'ignore', 'pipe'], env: {...process.env, CLUSTER_LOG_LEVEL: 'info'}})
    await new Promise<void>((resolve, reject) => {
      let log = ''
      node!.stderr!.on('data', (d) => {
        if (log.length < 100_000) log += d // keep draining the pipe after ready
        if (/\] ready /.test(log)) resolve()
      })
      node!.once('exit', () => reject(new Error(log)))
    })
    const admin = await AdminClient.connect({host: HOST, port: 14983, credentials: {username: 'admin', password: 'soak-admin-pw'}, checkHostKey: () => {}})
    const config = await admin.readJson<ClusterConfig>(PATHS.config)
    config.users.push({name: 'soak', passwordHash: await hashPassword('soak-password'), publicKeys: [], home: '/soak', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
    config.limits = {...config.limits, perAddress: clients + ftpParallel * 2 + 16, unauthenticatedPerAddress: clients + 16, total: clients * 2 + 64}
    await admin.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    admin.close()
    const payload = path.join(dir, 'payload.bin')
    writeFileSync(payload, randomBytes(256 * 1024))
    const baseline = sample(node.pid!)
    console.log(`soak: ${clients} SFTP clients + ${ftpParallel} parallel FTP transfers for ${minutes} min against ${HOST}; baseline RSS ${baseline.rssMiB} MiB, ${baseline.fds} fds`)

    const deadline = Date.now() + minutes * 60_000
    let ops = 0
    let errors = 0
    const data = randomBytes(64 * 1024)
    const sftpWorker = async (i: number) => {
      const {client, sftp} = await login()
      const file = `/c${i}.bin`
      for (let k = 0; Date.now() < deadline && k < 10_000_000; k++) {
        try {
          if (k % 3 === 0) await cb<void>((d) => sftp.writeFile(file, data, d))
          else if (k % 3 === 1) await cb<Buffer>((d) => sftp.readFile(file, d))
          else await cb<unknown>((d) => sftp.readdir('/', d))
          ops += 1
        } catch {
          errors += 1
        }
      }
      client.end()
    }
    const ftpWorker = async (i: number) => {
      for (let k = 0; Date.now() < deadline && k < 10_000_000; k++) {
        const up = k % 2 === 0
        const args = up ? ['-sS', '--fail', '-T', payload, '-u', 'soak:soak-password', `ftp://${HOST}:2121/f${i}.bin`] : ['-sS', '--fail', '-o', '/dev/null', '-u', 'soak:soak-password', `ftp://${HOST}:2121/f${i}.bin`]
        const code = await new Promise<number | null>((resolve) => spawn('curl', args, {stdio: 'ignore'}).once('exit', resolve))
        if (code === 0) ops += 1
        else errors += 1
      }
    }
    const samples: {t: number; rssMiB: number; fds: number}[] = []
    const timer = setInterval(() => {
      const s = sample(node!.pid!)
      samples.push({t: Math.round((Date.now() - deadline + minutes * 60_000) / 1000), ...s})
      console.log(`  t=${samples.at(-1)!.t}s RSS ${s.rssMiB} MiB, fds ${s.fds}, ops ${ops}, errors ${errors}`)
    }, Math.max(5000, minutes * 60_000 / 12))
    await Promise.all([...Array.from({length: clients}, (_, i) => sftpWorker(i)), ...Array.from({length: ftpParallel}, (_, i) => ftpWorker(i))])
    clearInterval(timer)
    await new Promise((r) => setTimeout(r, 3000)) // sessions close
    const end = sample(node.pid!)
    const warm = samples[Math.min(1, samples.length - 1)] ?? end
    const growth = warm ? ((end.rssMiB - warm.rssMiB) / warm.rssMiB) * 100 : 0
    console.log(`\nresult: ${ops} operations, ${errors} errors`)
    console.log(`  RSS warm ${warm.rssMiB} MiB → end ${end.rssMiB} MiB (${growth.toFixed(1)} %; target < 10 %)`)
    console.log(`  fds baseline ${baseline.fds} → after ${end.fds} (${end.fds <= baseline.fds + 2 ? 'back to baseline' : 'LEAK?'})`)
  } finally {
    cleanup()
  }
}

main().catch((error: Error) => {
  console.error(error.message)
  process.exit(2)
})
