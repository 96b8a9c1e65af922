// FTP throughput, side by side: our FtpService vs vsftpd, the same curl client, download and upload of one
// file (1 GiB by default; `--size 256M` to shrink, `--runs 3`), medians in MB/s and the ratio.
//   node dist/bench/ftp-throughput.js [--size 1G] [--runs 3] [--bind 127.0.30.1]
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {promises as fs, openSync, closeSync, writeSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {randomFillSync} from 'node:crypto'
import {startFtp, PASSWORD, USER} from '../test/helpers/ftp-fixture.js'

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
const OURS = {ftp: 20621, ftps: 20622, pasvMin: 20630, pasvMax: 20639}
const VSFTPD = {port: 20721, pasvMin: 20730, pasvMax: 20739}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
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
    'seccomp_sandbox=NO', 'use_sendfile=YES', 'xferlog_enable=NO', 'dirmessage_enable=NO', 'connect_from_port_20=NO', '',
  ].join('\n'))
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

  const ours = await startFtp({bind, ftpPort: OURS.ftp, ftpsPort: OURS.ftps, pasvMin: OURS.pasvMin, pasvMax: OURS.pasvMax, mutate: (c) => (c.sites.files.ftps.enabled = false)})
  await fs.copyFile(source, path.join(ours.home, 'file.bin'))
  const vroot = path.join(work, 'vsftpd-root')
  await fs.mkdir(vroot)
  const vs = await startVsftpd(vroot)
  await fs.copyFile(source, path.join(vroot, 'pub', 'file.bin'))

  const targets = {
    ours: {get: `ftp://${USER}:${PASSWORD}@${bind}:${OURS.ftp}/file.bin`, put: (n: number) => `ftp://${USER}:${PASSWORD}@${bind}:${OURS.ftp}/up${n}.bin`},
    vsftpd: {get: `ftp://${bind}:${VSFTPD.port}/pub/file.bin`, put: (n: number) => `ftp://${bind}:${VSFTPD.port}/pub/up${n}.bin`},
  }
  const times: Record<string, number[]> = {'ours down': [], 'vsftpd down': [], 'ours up': [], 'vsftpd up': []}
  try {
    for (let r = 0; r < runs; r++) {
      // interleaved so drift of the machine hits both alike
      for (const who of ['vsftpd', 'ours'] as const) times[`${who} down`].push(await curl(['-o', '/dev/null', targets[who].get]))
      for (const who of ['vsftpd', 'ours'] as const) times[`${who} up`].push(await curl(['-T', source, targets[who].put(r)]))
    }
  } finally {
    vs.kill()
    await ours.stop()
    await fs.rm(work, {recursive: true, force: true})
  }
  const mbs = (k: string) => size / 1e6 / median(times[k])
  console.log(`FTP throughput, ${(size / 1024 ** 2).toFixed(0)} MiB, curl, ${runs} runs (median), loopback ${bind}`)
  console.log('direction   ours MB/s   vsftpd MB/s   ratio (ours/vsftpd)')
  for (const dir of ['down', 'up']) {
    const o = mbs(`ours ${dir}`)
    const v = mbs(`vsftpd ${dir}`)
    console.log(`${dir.padEnd(10)} ${o.toFixed(0).padStart(10)} ${v.toFixed(0).padStart(13)}   ${(o / v).toFixed(2)}×`)
  }
}

main().catch((error: unknown) => {
  console.error((error as Error).message)
  process.exit(1)
})
