// Real node daemons for integration tests: `cluster node init` + `cluster node start` as child processes on
// distinct loopback addresses, killed by PID when the test ends.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {runCli} from './cli.js'
import {CLI} from './paths.js'

export const ADMIN_PASSWORD = 'correct-horse-battery'

export interface TestNode {
  dir: string
  bind: string
  fingerprint: string
  process?: ChildProcess
  log: string
  start(): Promise<void>
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>
  /** SIGKILL now. */
  kill(): void
}

/** A temporary directory removed at exit of the test process. */
export function tempDir(prefix = 'ftpcluster-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  process.once('exit', () => rmSync(dir, {recursive: true, force: true}))
  return dir
}

/** An ed25519 key pair made by ssh-keygen (for OpenSSH clients in batch mode). */
export function sshKey(dir: string, name = 'id_ed25519'): {privateKey: string; publicKey: string} {
  const file = path.join(dir, name)
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', file])
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
  return {privateKey: file, publicKey: `${file}.pub`}
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of running) if (p.pid) try { process.kill(p.pid, 'SIGKILL') } catch {}
})
// The test runner ends a file that ran out of time with a signal: exit, so every 'exit' hook kills its processes.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => process.exit(128 + (signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 1)))

export async function createNode(root: string, bind: string, extra: string[] = []): Promise<TestNode> {
  const dir = path.join(root, `node-${bind}`)
  const r = await runCli(['node', 'init', dir, '--bind', bind, '--json', ...extra], {env: {CLUSTER_ADMIN_PASSWORD: ADMIN_PASSWORD}})
  if (r.code !== 0) throw new Error(`node init failed (${r.code}): ${r.stderr}${r.stdout}`)
  const {fingerprint} = r.json<{fingerprint: string}>()
  const node: TestNode = {
    dir,
    bind,
    fingerprint,
    log: '',
    start: () => startProcess(node),
    stop: async () => {
      const p = node.process
      if (!p || p.exitCode !== null || p.signalCode !== null) return
      const exited = new Promise((res) => p.once('exit', res))
      p.kill('SIGTERM')
      const timer = setTimeout(() => p.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
    kill: () => {
      const p = node.process
      if (p?.pid && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    },
  }
  return node
}

function startProcess(node: TestNode): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'node', 'start', node.dir], {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, CLUSTER_LOG_LEVEL: 'info'}})
    node.process = child
    running.add(child)
    let settled = false
    // generous: several test files start their nodes at once on a small shared machine
    const timer = setTimeout(() => done(new Error(`node ${node.bind} did not become ready in 30 s:\n${node.log}`)), 30_000)
    const done = (error?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (error) reject(error)
      else resolve()
    }
    const from = node.log.length // a restart must not count the previous run's "ready"
    const onData = (d: Buffer) => {
      node.log += d.toString()
      if (/\] ready /.test(node.log.slice(from))) done()
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code, signal) => {
      running.delete(child)
      // An exit nobody asked for is a crash: show its log, or the test only sees "connection refused" later.
      if (settled && code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM') {
        process.stderr.write(`node ${node.bind} exited unexpectedly (${code ?? signal}); its log:\n${node.log.slice(-4000)}\n`)
      }
      done(new Error(`node ${node.bind} exited (${code ?? signal}) before ready:\n${node.log}`))
    })
  })
}

/** Polls `check` until it returns a truthy value or the deadline passes (bounded in count and time). */
export async function pollUntil<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 5000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (let i = 0; i < Math.ceil(timeoutMs / intervalMs) + 1; i++) {
    try {
      const v = await check()
      if (v) return v as T
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) break
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
}
