// FTP throughput, side by side: a real node (`cluster node start`, supervisor + workers) vs vsftpd, the same
// curl client: 1 and 4 concurrent streams down and up, and explicit FTPS (curl --ssl-reqd, AUTH TLS, PROT P)
// against vsftpd with TLS (1 GiB by default; `--size 256M` to shrink, `--runs 3`), medians in MB/s and ratios.
//   node dist/bench/ftp-throughput.js [--size 1G] [--runs 3] [--bind 127.0.30.1] [--workers N] [--only up]
//        [--sync-uploads true|false]
// `--only` keeps the cases whose name contains it (e.g. `up`, `x4`, `FTPS`). `--sync-uploads` sets
// sites.files.syncUploads on our side: true (the default) fdatasyncs each upload before 226, which vsftpd never
// does; false behaves like vsftpd.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {promises as fs, openSync, closeSync, writeSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {randomFillSync} from 'node:crypto'
import {fileURLToPath} from 'node:url'
import {initNodeDir} from '../src/config/node-dir.js'
import {hashPassword} from '../src/config/password.js'
import {ALL_PERMISSIONS} from '../src/config/schema.js'
import {ConfigStore} from '../src/config/store.js'
import {sampleTreeCpu} from './proc-tree.js'

const CLI = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const USER = 'bench'
const PASSWORD = 'bench-password-1'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback
}

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s)
  if (!m) throw new Error(`--size ${s}: expected e.g. 1G, 256M`)
  return Number(m[1]) * {'': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3}[m[2].toUpperCase() as '' | 'K' | 'M' | 'G']
}

const size = parseSize(arg('size', '1G'))
const runs = Number(arg('runs', '3'))
const bind = arg('bind', '127.0.30.1')
const syncUploads = arg('sync-uploads', 'true') !== 'false'
const OURS = {ftp: 20621, ftps: 20622, pasvMin: 20630, pasvMax: 20639}
const VSFTPD = {port: 20721, pasvMin: 20730, pasvMax: 20739}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** A real node in `dir` serving FTP (and explicit FTPS on the same port), its user's home holding `file.bin`. */
async function startNode(dir: string, source: string): Promise<{home: string; child: ChildProcess}> {
  const storage = path.join(dir, 'storage')
  await initNodeDir(path.join(dir, 'node'), {bind, adminUser: 'admin', adminPassword: 'x', storage, ftpPort: OURS.ftp, ftpsPort: OURS.ftps, sftpPort: OURS.ftp + 7, adminPort: OURS.ftp + 8, healthPort: OURS.ftp + 9, pasvPorts: {min: OURS.pasvMin, max: OURS.pasvMax}})
  const store = await ConfigStore.open(path.join(dir, 'node'))
  const passwordHash = await hashPassword(PASSWORD)
  await store.change((c) => {
    c.users.push({name: USER, passwordHash, publicKeys: [], home: '/bench', permissions: [...ALL_PERMISSIONS], disabled: false})
    c.sites.files.ftps.enabled = false
    c.sites.files.syncUploads = syncUploads
  }, {by: 'bench', from: 'local', summary: 'bench user'})
  const home = path.join(storage, 'bench')
  await fs.mkdir(home, {recursive: true})
  await fs.copyFile(source, path.join(home, 'file.bin'))
  const child = spawn(process.execPath, [CLI, 'node', 'start', path.join(dir, 'node'), '--workers', arg('workers', String(os.availableParallelism()))], {stdio: ['ignore', 'ignore', 'inherit'], env: {...process.env, CLUSTER_LOG_LEVEL: 'warn'}})
  const until = Date.now() + 15_000
  while (Date.now() < until) {
    if (spawnSync('curl', ['-sS', '--max-time', '2', `ftp://${USER}:${PASSWORD}@${bind}:${OURS.ftp}/`]).status === 0) return {home, child}
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error('the node did not start')
}

function curl(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn('curl', ['-sS', '--fail', ...args], {stdio: ['ignore', 'ignore', 'inherit']})
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`curl ${args.join(' ')} exited ${code}`))
      resolve(Number(process.hrtime.bigint() - t0) / 1e9)
    })
  })
}

/**
 * Seconds for all of these curl runs at once. Each starts with no dirty pages (`sync` outside the timing): the
 * kernel's write-back of the previous run's uploads would otherwise land on whichever server runs next.
 */
async function timedAll(runs: string[][]): Promise<number> {
  spawnSync('sync')
  const t0 = process.hrtime.bigint()
  await Promise.all(runs.map((a) => curl(a)))
  return Number(process.hrtime.bigint() - t0) / 1e9
}

async function startVsftpd(root: string): Promise<ChildProcess> {
  // anonymous with uploads: the anon root must not be writable, its pub/ is (vsftpd's own rule)
  await fs.mkdir(path.join(root, 'pub'), {recursive: true})
  await fs.chmod(root, 0o755)
  spawnSync('chown', ['ftp:ftp', path.join(root, 'pub')])
  const conf = path.join(root, '..', 'vsftpd.conf')
  await fs.writeFile(conf, [
    'listen=YES', 'listen_ipv6=NO', `listen_address=${bind}`, `listen_port=${VSFTPD.port}`, 'background=NO',
    'anonymous_enable=YES', 'local_enable=NO', 'write_enable=YES', 'anon_upload_enable=YES',
    'anon_other_write_enable=YES', `anon_root=${root}`, 'no_anon_password=YES', 'anon_umask=022',
    `pasv_min_port=${VSFTPD.pasvMin}`, `pasv_max_port=${VSFTPD.pasvMax}`, `pasv_address=${bind}`,
    'seccomp_sandbox=NO', 'use_sendfile=YES', 'xferlog_enable=NO', 'dirmessage_enable=NO', 'connect_from_port_20=NO',
    // explicit FTPS when the client asks for it, with the session reuse our nodes also require
    'ssl_enable=YES', 'allow_anon_ssl=YES', 'force_local_logins_ssl=NO', 'force_local_data_ssl=NO', 'force_anon_logins_ssl=NO',
    'force_anon_data_ssl=NO', 'require_ssl_reuse=YES', 'ssl_tlsv1=NO', 'ssl_sslv2=NO', 'ssl_sslv3=NO',
    `rsa_cert_file=${path.join(root, '..', 'vsftpd.pem')}`, `rsa_private_key_file=${path.join(root, '..', 'vsftpd.pem')}`, '',
  ].join('\n'))
  const pem = path.join(root, '..', 'vsftpd.pem')
  spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=vsftpd', '-keyout', pem, '-out', pem])
  const child = spawn('vsftpd', [conf], {stdio: ['ignore', 'inherit', 'inherit']})
  const until = Date.now() + 5000
  while (Date.now() < until) {
    const ok = spawnSync('curl', ['-sS', '--max-time', '2', `ftp://${bind}:${VSFTPD.port}/pub/`]).status === 0
    if (ok) return child
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill()
  throw new Error('vsftpd did not start (is it installed? apt-get install vsftpd)')
}

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v vsftpd && command -v curl']).status !== 0) {
    console.error('needs curl and vsftpd (apt-get install curl vsftpd)')
    process.exit(2)
  }
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ftp-bench-'))
  const source = path.join(work, 'source.bin')
  const fd = openSync(source, 'w')
  const block = Buffer.alloc(8 * 1024 * 1024)
  for (let left = size; left > 0; left -= block.length) writeSync(fd, randomFillSync(block), 0, Math.min(left, block.length))
  closeSync(fd)

  const ours = await startNode(path.join(work, 'ours'), source)
  const vroot = path.join(work, 'vsftpd-root')
  await fs.mkdir(vroot)
  const vs = await startVsftpd(vroot)
  await fs.copyFile(source, path.join(vroot, 'pub', 'file.bin'))

  const targets = {
    ours: {get: `ftp://${USER}:${PASSWORD}@${bind}:${OURS.ftp}/file.bin`, put: (n: number) => `ftp://${USER}:${PASSWORD}@${bind}:${OURS.ftp}/up${n}.bin`},
    vsftpd: {get: `ftp://${bind}:${VSFTPD.port}/pub/file.bin`, put: (n: number) => `ftp://${bind}:${VSFTPD.port}/pub/up${n}.bin`},
  }
  const allCases = [
    {name: 'down x1', streams: 1, tls: false, up: false},
    {name: 'up x1', streams: 1, tls: false, up: true},
    {name: 'down x4', streams: 4, tls: false, up: false},
    {name: 'up x4', streams: 4, tls: false, up: true},
    {name: 'FTPS down x1', streams: 1, tls: true, up: false},
    {name: 'FTPS up x1', streams: 1, tls: true, up: true},
  ]
  const cases = allCases.filter((c) => c.name.includes(arg('only', '')))
  const homes = {ours: ours.home, vsftpd: path.join(vroot, 'pub')}
  const times: Record<string, number[]> = {}
  // server CPU, sampled (process tree: our supervisor and workers; vsftpd with its per-session processes)
  const cpu: Record<string, number[]> = {}
  const pids = {ours: ours.child.pid!, vsftpd: vs.pid!}
  try {
    for (let r = 0; r < runs; r++) {
      for (const c of cases) {
        // interleaved, and who goes first alternates, so drift of the machine hits both alike
        for (const who of r % 2 === 0 ? (['vsftpd', 'ours'] as const) : (['ours', 'vsftpd'] as const)) {
          const tls = c.tls ? ['--ssl-reqd', '-k'] : []
          const sampler = sampleTreeCpu(pids[who])
          const t = await timedAll(Array.from({length: c.streams}, (_, k) => (c.up ? [...tls, '-T', source, targets[who].put(r * 10 + k)] : [...tls, '-o', '/dev/null', targets[who].get])))
          ;(times[`${who} ${c.name}`] ??= []).push(t)
          await new Promise((r) => setTimeout(r, 200)) // the sessions' last work after curl is done
          ;(cpu[`${who} ${c.name}`] ??= []).push(sampler.stop())
          // uploads deleted at once: their dirty pages are dropped, not flushed to disk during the other's turn
          if (c.up) for (let k = 0; k < c.streams; k++) await fs.rm(path.join(homes[who], `up${r * 10 + k}.bin`), {force: true})
        }
      }
    }
  } finally {
    vs.kill()
    ours.child.kill('SIGTERM')
    await new Promise((r) => ours.child.once('exit', r))
    await fs.rm(work, {recursive: true, force: true})
  }
  console.log(`FTP throughput, ${(size / 1024 ** 2).toFixed(0)} MiB per stream, curl, ${runs} runs (median), loopback ${bind}, syncUploads ${syncUploads}, load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores`)
  console.log('case            ours MB/s   vsftpd MB/s   ratio (ours/vsftpd)   ours CPU s/GiB   vsftpd CPU s/GiB')
  for (const c of cases) {
    const o = (size * c.streams) / 1e6 / median(times[`ours ${c.name}`])
    const v = (size * c.streams) / 1e6 / median(times[`vsftpd ${c.name}`])
    const gib = (size * c.streams) / 1024 ** 3
    const perGiB = (who: string) => (median(cpu[`${who} ${c.name}`]) / gib).toFixed(2)
    console.log(`${c.name.padEnd(14)} ${o.toFixed(0).padStart(10)} ${v.toFixed(0).padStart(13)}   ${(o / v).toFixed(2).padStart(18)}×   ${perGiB('ours').padStart(14)}   ${perGiB('vsftpd').padStart(16)}`)
  }
  console.log("CPU: server process tree, user+system, sampled every 20 ms (a vsftpd session's time did not reach the master's")
  console.log('cutime: 0.00 s measured); a session that ends between samples loses up to 20 ms, so vsftpd reads low')
}

main().catch((error: unknown) => {
  console.error((error as Error).message)
  process.exit(1)
})
