// Soak of the jail under attack (issue 9): one real node, a storage-side swapper exchanging a home's directory
// with a symlink to outside (renameat2 RENAME_EXCHANGE) the whole time, 4 SFTP (paramiko) and 2 FTP (ftplib)
// clients reading, writing and chmod-ing through it. Reports the escapes (must be 0). CI runs the short
// version (test/integration/attack-race.test.ts, 10 s). Not a test: run it by hand, under the bench lock.
//   node dist/bench/jail-soak.js [--seconds 600]      Loopback only: 127.0.50.40.
import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {hashPassword} from '../src/config/password.js'
import type {ClusterConfig} from '../src/config/schema.js'
import {AdminClient} from '../src/protocol/admin-client.js'
import {PATHS} from '../src/protocol/index.js'

const HOST = '127.0.50.40'
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const CLI = path.join(ROOT, 'bin/run.js')
const ATTACK = path.join(ROOT, 'test/helpers/attack')
const SECRET = 'SECRET-outside-the-home'
const i = process.argv.indexOf('--seconds')
const seconds = i > 0 ? Number(process.argv[i + 1]) : 600

function py(script: string, args: string[]): Promise<{code: number | null; out: string; err: string}> {
  return new Promise((resolve) => {
    const c = spawn('/usr/bin/python3', [path.join(ATTACK, script), ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    c.stdout.on('data', (d: Buffer) => (out += d))
    c.stderr.on('data', (d: Buffer) => (err += d))
    const t = setTimeout(() => c.pid && process.kill(c.pid, 'SIGKILL'), (seconds + 120) * 1000)
    c.on('close', (code) => (clearTimeout(t), resolve({code, out, err})))
  })
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-jail-soak-'))
  const storage = path.join(dir, 'storage')
  const home = path.join(storage, 'alice')
  const outside = path.join(storage, 'outside')
  mkdirSync(path.join(home, 'd'), {recursive: true})
  mkdirSync(outside)
  writeFileSync(path.join(outside, 'f'), SECRET)
  chmodSync(path.join(outside, 'f'), 0o644)
  writeFileSync(path.join(home, 'd/f'), 'inside')
  symlinkSync(outside, path.join(home, 's'))
  const env = {...process.env, CLUSTER_ADMIN_PASSWORD: 'soak-admin'}
  const init = spawnSync(process.execPath, [CLI, 'node', 'init', path.join(dir, 'node'), '--bind', HOST, '--storage', storage], {env})
  if (init.status !== 0) throw new Error(`node init failed: ${init.stderr}`)
  const node = spawn(process.execPath, [CLI, 'node', 'start', path.join(dir, 'node')], {stdio: ['ignore', 'ignore', 'pipe'], env})
  try {
    let c: AdminClient | null = null
    for (let t = 0; t < 100 && !c; t++) {
      c = await AdminClient.connect({host: HOST, port: 14983, credentials: {username: 'admin', password: 'soak-admin'}, checkHostKey: () => {}}).catch(() => null)
      if (!c) await new Promise((r) => setTimeout(r, 200))
    }
    if (!c) throw new Error('the node did not come up')
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    config.users.push({name: 'alice', passwordHash: await hashPassword('alice-pw'), publicKeys: [], home: '/alice', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    c.close()
    const s = String(seconds)
    const runs = await Promise.all([
      py('swapper.py', [path.join(home, 'd'), path.join(home, 's'), s]),
      ...Array.from({length: 4}, () => py('race_client.py', ['sftp', HOST, '2222', 'alice', 'alice-pw', s, SECRET])),
      ...Array.from({length: 2}, () => py('race_client.py', ['ftp', HOST, '2121', 'alice', 'alice-pw', s, SECRET])),
    ])
    const [swap, ...clients] = runs
    for (const r of runs) if (r.code !== 0) throw new Error(`an attack process failed: ${r.err}`)
    const stats = clients.map((r) => JSON.parse(r.out) as Record<string, number>)
    const sum = (k: string) => stats.reduce((a, x) => a + x[k], 0)
    const outsideNames = readdirSync(outside)
    const mode = (statSync(path.join(outside, 'f')).mode & 0o777).toString(8)
    const intact = readFileSync(path.join(outside, 'f'), 'utf8') === SECRET
    console.log(`jail soak: ${seconds} s, ${swap.out.trim()} swaps, 4 SFTP + 2 FTP clients`)
    console.log(`operations ok: reads ${sum('reads')}, writes ${sum('writes')}, chmods ${sum('chmods')}; refused while swapped: ${sum('errors')}`)
    console.log(`escapes: reads ${sum('escapes')}, files written outside ${outsideNames.length - 1}, outside mode ${mode}, outside content intact ${intact}`)
    if (sum('escapes') > 0 || outsideNames.length !== 1 || mode !== '644' || !intact) process.exitCode = 3
  } finally {
    if (node.pid) process.kill(node.pid, 'SIGTERM')
    await new Promise((r) => node.once('exit', r))
    rmSync(dir, {recursive: true, force: true})
  }
}

main().catch((error: unknown) => {
  console.error((error as Error).message)
  process.exitCode = 1
})
