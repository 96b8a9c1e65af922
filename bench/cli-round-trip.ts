// The cost of one CLI round trip (issue 13): `cluster node status HOST --json` with key auth and with a
// password, side by side with a bare `node -e 0` and a bare oclif command (`cluster --version`), in one run.
// Target: key auth ≤ 3.0× `node -e 0`. Prints medians (wall time) and the ratios.
// Usage: node dist/bench/cli-round-trip.js [--runs 20] [--cpu-prof DIR]   (a CPU profile of one key-auth run)
// Addresses: 127.0.91.2 only. The node is killed by PID at the end.
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const CLI = path.join(ROOT, 'bin', 'run.js')
const HOST = '127.0.91.2'
const PASSWORD = 'bench-round-trip-pw'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function timeRuns(label: string, argv: string[], env: NodeJS.ProcessEnv, runs: number): number {
  const times: number[] = []
  for (let i = 0; i < runs + 2; i++) {
    const t0 = performance.now()
    const r = spawnSync(process.execPath, argv, {env, stdio: ['ignore', 'pipe', 'pipe']})
    const ms = performance.now() - t0
    if (r.status !== 0) throw new Error(`${label} exited ${r.status}: ${r.stderr}`)
    if (i >= 2) times.push(ms) // two warm-up runs (page cache)
  }
  return median(times)
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '20'))
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-cli-'))
  const key = path.join(dir, 'id_ed25519')
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])
  const env = {...process.env, NO_COLOR: '1', CI: '1', CLUSTER_CONFIG_DIR: path.join(dir, 'cli')}
  const init = spawnSync(process.execPath, [CLI, 'node', 'init', path.join(dir, 'node'), '--bind', HOST, '--admin-key', `${key}.pub`, '--json'], {env: {...env, CLUSTER_ADMIN_PASSWORD: PASSWORD}})
  if (init.status !== 0) throw new Error(`node init failed: ${init.stderr}`)
  const node = spawn(process.execPath, [CLI, 'node', 'start', path.join(dir, 'node')], {stdio: ['ignore', 'pipe', 'pipe'], env})
  try {
    await new Promise<void>((resolve, reject) => {
      let log = ''
      const timer = setTimeout(() => reject(new Error(`node not ready:\n${log}`)), 20_000)
      const on = (d: Buffer) => {
        log += d.toString()
        if (/\] ready /.test(log)) {
          clearTimeout(timer)
          resolve()
        }
      }
      node.stdout.on('data', on)
      node.stderr.on('data', on)
    })
    const status = [CLI, 'node', 'status', HOST, '--json']
    // Pin the host key once, so every measured run is the steady state.
    spawnSync(process.execPath, status, {env: {...env, CLUSTER_KEY_FILE: key}})
    const bare = timeRuns('node -e 0', ['-e', '0'], env, runs)
    const oclif = timeRuns('cluster --version', [CLI, '--version'], env, runs)
    const withKey = timeRuns('node status (key)', status, {...env, CLUSTER_KEY_FILE: key}, runs)
    const withPassword = timeRuns('node status (password)', status, {...env, CLUSTER_PASSWORD: PASSWORD}, runs)
    const row = (name: string, ms: number) => console.log(`${name.padEnd(34)} ${ms.toFixed(1).padStart(7)} ms  ${(ms / bare).toFixed(2)}×`)
    console.log(`CLI round trip, median of ${runs} runs (wall time; shared machine: compare ratios, not ms)`)
    row('node -e 0', bare)
    row('cluster --version (bare oclif)', oclif)
    row('cluster node status --json (key)', withKey)
    row('cluster node status --json (password)', withPassword)
    console.log(`ratio key/bare = ${(withKey / bare).toFixed(2)} (target ≤ 3.0)`)
    const prof = process.argv.includes('--cpu-prof') ? arg('cpu-prof', '') : ''
    if (prof) {
      spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', prof, ...status], {env: {...env, CLUSTER_KEY_FILE: key}})
      console.log(`CPU profile of one key-auth run in ${prof}`)
    }
  } finally {
    if (node.pid) process.kill(node.pid, 'SIGKILL')
    rmSync(dir, {recursive: true, force: true})
  }
}

await main()
