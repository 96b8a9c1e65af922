// Sync latency: time from a configuration change on the primary until every secondary has applied it, for
// clusters of 1, 5, 20 (real node processes) and 100 secondaries (lightweight: many nodes in one process);
// then with 50,000 users (real processes, 5 and 20 secondaries): full documents (CLUSTER_SYNC_DELTA=0 on the
// primary, before) against delta sync (after) in one run, and the acknowledgement of `users add` (the CLI's
// read-modify-write of the document before, the server-side `users-edit` after).
// Usage: node dist/bench/sync-latency.js [--sizes 1,5,20,100] [--changes 30] [--lightweight-from 100]
//        [--cases small,users] [--users 50000] [--user-sizes 5,20] [--user-changes 10] [--commit auto|primary]
//        [--net 127.0.6]
//        [--user-modes full,delta] [--cpu-prof DIR]   (CPU profiles of the primary and of the first secondary or the host, per size, into DIR)
// Addresses: NET.0/24 only (primary NET.1, secondaries from NET.2; default 127.0.6). Every child is killed by PID.
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'
import {initNodeDir} from '../src/config/node-dir.js'
import {ConfigStore} from '../src/config/store.js'
import type {ClusterConfig} from '../src/config/schema.js'
import {AdminClient} from '../src/protocol/admin-client.js'
import {DEFAULT_ADMIN_PORT, PATHS, type ServersDocument, type UsersEditResult} from '../src/protocol/index.js'
import {editConfig} from '../src/cli/config-edit.js'
import {addUserOnPrimary} from '../src/cli/remote-user-edit.js'
import {addUser} from '../src/cli/user-edit.js'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback
}
const SELF = fileURLToPath(import.meta.url)
const ROOT = path.resolve(path.dirname(SELF), '../..')
const CLI = path.join(ROOT, 'bin', 'run.js')
const PASSWORD = 'bench-sync-latency'
const NET = arg('net', '127.0.6')
const PRIMARY = `${NET}.1`
const secondaryAddress = (i: number) => `${NET}.${i + 2}`
/** A valid scrypt hash: the CLI hashes a password before it sends anything (its cost does not grow with users). */
const USER_HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + 'A'.repeat(43) + '='
const USERS_TIMEOUT_MS = 120_000
/** The commit policy of the 50,000-user cases (auto: majority with 3+ members; primary: no staging). */
const COMMIT = arg('commit', 'auto') as 'auto' | 'primary' | 'majority'
const TARGETS: Record<number, number> = {5: 50, 20: 100, 100: 500}
const WARMUP = 2
const GAP_MS = 20
const READY_TIMEOUT_MS = 60_000
const CHANGE_TIMEOUT_MS = 10_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const now = () => performance.now()

// ---------------------------------------------------------------------------------------------------------
// Lightweight host mode: `--host ROOT COUNT` starts COUNT secondaries (ROOT/s-0 …) in this one process and
// prints `ready` once all serve, then `applied INDEX REVISION` the moment each node's store commits a change.
if (process.argv[2] === '--host') {
  process.env.CLUSTER_LOG_LEVEL = 'warn' // 100 nodes logging every push would cost more than the push
  const [root, count] = [process.argv[3], Number(process.argv[4])]
  const {startNode} = await import('../src/daemon/main.js')
  const nodes = await Promise.all(Array.from({length: count}, async (_, i) => {
    const node = await startNode(path.join(root, `s-${i}`))
    node.runtime.store.on('change', (c: ClusterConfig) => process.stdout.write(`applied ${i} ${c.revision}\n`))
    return node
  }))
  process.stdout.write('ready\n')
  const stop = () => void Promise.allSettled(nodes.map((n) => n.stop())).then(() => process.exit(0))
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  setInterval(() => process.ppid === 1 && stop(), 1000) // the bench died without killing us: do not linger
  await new Promise(() => {}) // serve until told to stop
}

// ---------------------------------------------------------------------------------------------------------
const children = new Set<ChildProcess>()
const tempRoots = new Set<string>()
function killAll(signal: NodeJS.Signals): void {
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) try { process.kill(c.pid, signal) } catch {}
}
function removeTemps(): void {
  for (const r of tempRoots) rmSync(r, {recursive: true, force: true})
  tempRoots.clear()
}
process.once('exit', () => {
  killAll('SIGKILL')
  removeTemps()
})
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: killing ${children.size} node process(es)\n`)
    process.exit(130) // the exit handler kills by PID and removes the data directories
  })
}

/** Spawns a process and resolves once a stdout/stderr line matches `ready`; `onLine` sees every line. */
function spawnUntilReady(args: string[], what: string, onLine: (line: string) => void, ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, CLUSTER_LOG_LEVEL: 'info', ...env}})
    children.add(child)
    child.once('exit', () => children.delete(child))
    let log = ''
    let settled = false
    const timer = setTimeout(() => done(new Error(`${what} not ready in ${READY_TIMEOUT_MS / 1000} s:\n${log.slice(-2000)}`)), READY_TIMEOUT_MS)
    const done = (error?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (error) reject(error)
      else resolve(child)
    }
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = ''
      stream.on('data', (d: Buffer) => {
        partial += d.toString()
        let nl: number
        while ((nl = partial.indexOf('\n')) >= 0) {
          const line = partial.slice(0, nl)
          partial = partial.slice(nl + 1)
          if (!settled) log += line + '\n'
          if (ready.test(line)) done()
          onLine(line)
        }
      })
    }
    child.once('exit', (code, signal) => done(new Error(`${what} exited (${code ?? signal}) before ready:\n${log.slice(-2000)}`)))
  })
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  process.kill(child.pid, 'SIGTERM')
  const timer = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** Runs `tasks` with at most `limit` in flight. */
async function bounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length)
  let next = 0
  await Promise.all(Array.from({length: Math.min(limit, tasks.length)}, async () => {
    while (next < tasks.length) {
      const i = next++
      out[i] = await tasks[i]()
    }
  }))
  return out
}

/** CPU time (user + system, ms) a process has used so far, from /proc; 0 where there is no /proc. */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0
  }
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]
}

interface Row {
  secondaries: number
  mode: string
  changes: number
  accepted: number[]
  confirmed: number[]
  primaryView: number[]
  setupMs: number
  /** CPU per timed change, ms: the primary, and all secondaries together. */
  cpuPrimary: number
  cpuSecondaries: number
}

/** Applied-at times: revision → secondary index → performance.now() when the bench saw it. */
type AppliedLog = Map<number, Map<number, number>>

function recordApplied(log: AppliedLog, index: number, revision: number, onRecord: () => void): void {
  let m = log.get(revision)
  if (!m) log.set(revision, (m = new Map()))
  if (!m.has(index)) m.set(index, now())
  onRecord()
}

async function measureSize(n: number, changes: number, lightweight: boolean, profileDir: string | undefined): Promise<Row> {
  const root = mkdtempSync(path.join(tmpdir(), `ftpcluster-bench-sync-${n}-`))
  tempRoots.add(root)
  const mine: ChildProcess[] = []
  const applied: AppliedLog = new Map()
  let wake: () => void = () => {}
  const onRecord = () => wake()
  const t0Setup = now()
  let admin: AdminClient | undefined
  try {
    // Data directories (untimed setup).
    const primaryDir = path.join(root, 'primary')
    await initNodeDir(primaryDir, {bind: PRIMARY, adminUser: 'admin', adminPassword: PASSWORD})
    const dirs = Array.from({length: n}, (_, i) => path.join(root, `s-${i}`))
    await bounded(dirs.map((d, i) => () => initNodeDir(d, {bind: secondaryAddress(i), adminUser: 'admin', adminPassword: PASSWORD})), 4)

    // The primary is always a real process; secondaries are real processes or share one host process.
    const prof = (name: string) => (profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${name}-${n}.cpuprofile`] : [])
    const starts: Promise<ChildProcess>[] = [spawnUntilReady([...prof('primary'), CLI, 'node', 'start', primaryDir], 'primary', () => {}, /\] ready /)]
    const appliedLine = /\] configuration applied revision=(\d+) by=cluster /
    if (lightweight) {
      starts.push(spawnUntilReady([...prof('host'), SELF, '--host', root, String(n)], `host of ${n} secondaries`, (line) => {
        const m = /^applied (\d+) (\d+)$/.exec(line)
        if (m) recordApplied(applied, Number(m[1]), Number(m[2]), onRecord)
      }, /^ready$/, {UV_THREADPOOL_SIZE: '64'})) // one process stands in for n machines: give it threads for n nodes' fsyncs
    } else {
      dirs.forEach((d, i) => starts.push(spawnUntilReady([...(i === 0 ? prof('secondary') : []), CLI, 'node', 'start', d], `secondary ${secondaryAddress(i)}`, (line) => {
        const m = appliedLine.exec(line)
        if (m) recordApplied(applied, i, Number(m[1]), onRecord)
      }, /\] ready /)))
    }
    mine.push(...(await Promise.all(starts)))

    // Join every secondary (the primary drives add-server: backup, overwrite, verify).
    admin = await AdminClient.connect({host: PRIMARY, port: DEFAULT_ADMIN_PORT, credentials: {username: 'admin', password: PASSWORD}, checkHostKey: () => {}})
    const a = admin
    await bounded(dirs.map((_, i) => () => a.exec('add-server', {host: secondaryAddress(i), port: DEFAULT_ADMIN_PORT, username: 'admin', password: PASSWORD})), lightweight ? 8 : 4)
    let config = await admin.readJson<ClusterConfig>(PATHS.config)
    await allInSyncOnPrimary(admin, config.revision, n)
    const setupMs = now() - t0Setup

    const cpuBefore = mine.map((c) => cpuMs(c.pid))
    const accepted: number[] = []
    const confirmed: number[] = []
    const primaryView: number[] = []
    for (let k = 0; k < WARMUP + changes; k++) {
      config.limits.idleTimeoutSeconds = config.limits.idleTimeoutSeconds === 900 ? 901 : 900
      const body = JSON.stringify({...config, baseRevision: config.revision})
      const revision = config.revision + 1
      const t0 = now()
      await admin.writeFile(PATHS.config, body)
      const tAccepted = now()
      const deadline = t0 + CHANGE_TIMEOUT_MS
      while ((applied.get(revision)?.size ?? 0) < n) {
        if (now() > deadline) throw new Error(`revision ${revision}: only ${applied.get(revision)?.size ?? 0} of ${n} secondaries applied it within ${CHANGE_TIMEOUT_MS / 1000} s`)
        await new Promise<void>((r) => {
          const timer = setTimeout(r, 100)
          wake = () => (clearTimeout(timer), r())
        })
      }
      const tConfirmed = Math.max(...applied.get(revision)!.values())
      await allInSyncOnPrimary(admin, revision, n)
      const tView = now()
      if (k >= WARMUP) {
        accepted.push(tAccepted - t0)
        confirmed.push(tConfirmed - t0)
        primaryView.push(tView - t0)
      }
      config = {...config, revision}
      applied.delete(revision)
      await sleep(GAP_MS)
    }
    const cpu = mine.map((c, i) => (cpuMs(c.pid) - cpuBefore[i]) / (WARMUP + changes))
    const cpuSecondaries = cpu.slice(1).reduce((x, y) => x + y, 0)
    return {secondaries: n, mode: lightweight ? 'lightweight' : 'processes', changes, accepted, confirmed, primaryView, setupMs, cpuPrimary: cpu[0], cpuSecondaries}
  } finally {
    admin?.close()
    await Promise.all(mine.map(stopChild))
    rmSync(root, {recursive: true, force: true})
    tempRoots.delete(root)
  }
}

interface UsersRow {
  secondaries: number
  mode: 'full' | 'delta'
  users: number
  /** One user added per change (users-edit), change → every secondary applied it, ms. */
  accepted: number[]
  confirmed: number[]
  failed: string[]
  /** Bytes of the last push to each secondary (servers.json lastPush). */
  pushBytes: number[]
  /** `users add` acknowledged (5 secondaries only): the document round trip (full) or users-edit (delta). */
  ack: number[]
  setupMs: number
}

/**
 * A cluster of `n` real secondaries with `users` users; changes add one user each. The cluster is formed once;
 * the primary is restarted with full documents (CLUSTER_SYNC_DELTA=0), measured, then with deltas, measured.
 */
async function measureUsers(n: number, users: number, changes: number, modes: ('full' | 'delta')[], profileDir?: string): Promise<UsersRow[]> {
  const root = mkdtempSync(path.join(tmpdir(), `ftpcluster-bench-users-${n}-`))
  tempRoots.add(root)
  const mine: ChildProcess[] = []
  const applied: AppliedLog = new Map()
  let wake: () => void = () => {}
  const onRecord = () => wake()
  const t0Setup = now()
  let admin: AdminClient | undefined
  const waitApplied = async (revision: number, timeoutMs: number) => {
    const deadline = now() + timeoutMs
    while ((applied.get(revision)?.size ?? 0) < n) {
      if (now() > deadline) throw new Error(`revision ${revision}: only ${applied.get(revision)?.size ?? 0} of ${n} secondaries applied it within ${timeoutMs / 1000} s`)
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 100)
        wake = () => (clearTimeout(timer), r())
      })
    }
    return Math.max(...applied.get(revision)!.values())
  }
  try {
    const primaryDir = path.join(root, 'primary')
    await initNodeDir(primaryDir, {bind: PRIMARY, adminUser: 'admin', adminPassword: PASSWORD})
    // The directory is there before the cluster forms (untimed): add-server's join carries it to each secondary.
    const seed = await ConfigStore.open(primaryDir)
    await seed.change((c) => {
      c.sync.commit = COMMIT
      for (let i = 0; i < users; i++) c.users.push({name: `user${i}`, passwordHash: USER_HASH, publicKeys: [], home: `/user${i}`, permissions: ['list', 'download', 'upload'], disabled: false})
    }, {by: 'bench', from: 'local', summary: `${users} users`})
    const dirs = Array.from({length: n}, (_, i) => path.join(root, `s-${i}`))
    await bounded(dirs.map((d, i) => () => initNodeDir(d, {bind: secondaryAddress(i), adminUser: 'admin', adminPassword: PASSWORD})), 4)
    // One worker per node: 21 nodes × a worker per core would measure the machine's memory, not the sync.
    const prof = (name: string) => (profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `users-${name}-${n}-${Date.now()}.cpuprofile`] : [])
    const startPrimary = (delta: boolean) => spawnUntilReady([...prof(delta ? 'primary-delta' : 'primary-full'), CLI, 'node', 'start', primaryDir, '--workers', '1'], 'primary', () => {}, /\] ready /, {CLUSTER_SYNC_DELTA: delta ? '1' : '0'})
    const starts: Promise<ChildProcess>[] = [startPrimary(true)]
    const appliedLine = /\] configuration applied revision=(\d+) by=cluster /
    dirs.forEach((d, i) => starts.push(spawnUntilReady([...(i === 0 ? prof('secondary') : []), CLI, 'node', 'start', d, '--workers', '1'], `secondary ${secondaryAddress(i)}`, (line) => {
      const m = appliedLine.exec(line)
      if (m) recordApplied(applied, i, Number(m[1]), onRecord)
    }, /\] ready /)))
    mine.push(...(await Promise.all(starts)))
    admin = await AdminClient.connect({host: PRIMARY, port: DEFAULT_ADMIN_PORT, credentials: {username: 'admin', password: PASSWORD}, checkHostKey: () => {}, timeoutMs: 60_000})
    // One join at a time: each carries the whole directory, and each commit is staged on those already in.
    for (let i = 0; i < n; i++) await admin.exec('add-server', {host: secondaryAddress(i), port: DEFAULT_ADMIN_PORT, username: 'admin', password: PASSWORD})
    const config = await admin.readJson<ClusterConfig>(PATHS.config)
    if (config.users.length < users) throw new Error(`the primary has ${config.users.length} users, not ${users}`)
    await allInSyncOnPrimary(admin, config.revision, n, USERS_TIMEOUT_MS)
    const setupMs = now() - t0Setup
    const rows: UsersRow[] = []
    for (const mode of modes) {
      admin.close()
      await stopChild(mine[0])
      mine[0] = await startPrimary(mode === 'delta')
      admin = await AdminClient.connect({host: PRIMARY, port: DEFAULT_ADMIN_PORT, credentials: {username: 'admin', password: PASSWORD}, checkHostKey: () => {}, timeoutMs: 60_000})
      await allInSyncOnPrimary(admin, (await admin.exec<{revision: number}>('status', null)).revision, n, USERS_TIMEOUT_MS)
      const accepted: number[] = []
      const confirmed: number[] = []
      const failed: string[] = []
      for (let k = 0; k < WARMUP + changes; k++) {
        const t0 = now()
        try {
          const r = await admin.exec<UsersEditResult>('users-edit', {action: 'add', name: `change-${mode}-${k}`, passwordHash: USER_HASH, publicKeys: []})
          const tAccepted = now()
          const tConfirmed = await waitApplied(r.revision, USERS_TIMEOUT_MS)
          await allInSyncOnPrimary(admin, r.revision, n, USERS_TIMEOUT_MS)
          if (k >= WARMUP) {
            accepted.push(tAccepted - t0)
            confirmed.push(tConfirmed - t0)
          }
        } catch (error) {
          if (k >= WARMUP) failed.push((error as Error).message)
        }
        await sleep(GAP_MS)
      }
      const doc = await admin.readJson<ServersDocument>(PATHS.servers)
      const pushBytes = doc.servers.flatMap((s) => (s.lastPush ? [s.lastPush.bytes] : []))

      // `users add`, as the CLI does it: lookup + users-edit (after), or read current.json, add, write it back (before).
      const ack: number[] = []
      if (n === 5) {
        for (let k = 0; k < WARMUP + changes; k++) {
          const name = `ack-${mode}-${k}`
          const t0 = now()
          let revision: number
          try {
            if (mode === 'delta') revision = (await addUserOnPrimary(admin, {name, publicKeys: [], ifMissing: false}, async () => USER_HASH)).revision
            else revision = (await editConfig(admin, (c) => void addUser(c, {name, passwordHash: USER_HASH, publicKeys: []}), `users add ${name}`)).revision
          } catch (error) {
            if (k >= WARMUP) failed.push(`users add: ${(error as Error).message}`)
            continue
          }
          if (k >= WARMUP) ack.push(now() - t0)
          await waitApplied(revision, USERS_TIMEOUT_MS) // the next one starts on a quiet cluster
          await sleep(GAP_MS)
        }
      }
      rows.push({secondaries: n, mode, users, accepted, confirmed, failed, pushBytes, ack, setupMs})
    }
    return rows
  } finally {
    admin?.close()
    await Promise.all(mine.map(stopChild))
    rmSync(root, {recursive: true, force: true})
    tempRoots.delete(root)
  }
}

/** Polls the primary's /servers.json (1 ms apart, bounded) until every secondary is in-sync at `revision`. */
async function allInSyncOnPrimary(admin: AdminClient, revision: number, n: number, timeoutMs = CHANGE_TIMEOUT_MS): Promise<void> {
  const deadline = now() + timeoutMs
  let doc: ServersDocument | undefined
  for (let i = 0; i < 20_000 && now() < deadline; i++) {
    doc = await admin.readJson<ServersDocument>(PATHS.servers)
    const secondaries = doc.servers.filter((s) => s.role === 'secondary')
    if (secondaries.length === n && secondaries.every((s) => s.state === 'in-sync' && s.revision === revision)) return
    await sleep(1)
  }
  throw new Error(`the primary does not show ${n} secondaries in sync at revision ${revision}: ${JSON.stringify(doc?.servers.filter((s) => s.state !== 'in-sync' || s.revision !== revision).slice(0, 3))}`)
}

function fmt(xs: number[]): string {
  return `${quantile(xs, 0.5).toFixed(1)} / ${quantile(xs, 0.95).toFixed(1)}`
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  return rows.map((r, i) => r.map((cell, c) => (c === 0 || c === 1 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ') + (i === 0 ? '\n' + widths.map((w) => '-'.repeat(w)).join('  ') : '')).join('\n')
}

async function main(): Promise<void> {
  const sizes = arg('sizes', '1,5,20,100').split(',').map(Number)
  const changes = Number(arg('changes', '30'))
  const lightweightFrom = Number(arg('lightweight-from', '100'))
  const cases = arg('cases', 'small,users').split(',')
  const users = Number(arg('users', '50000'))
  const userSizes = arg('user-sizes', '5,20').split(',').map(Number)
  const userChanges = Number(arg('user-changes', '10'))
  const userModes = arg('user-modes', 'full,delta').split(',').filter((m): m is 'full' | 'delta' => m === 'full' || m === 'delta')
  const profileArg = arg('cpu-prof', '')
  const profileDir = profileArg ? path.resolve(profileArg) : undefined
  if ([...sizes, ...userSizes].some((s) => !Number.isInteger(s) || s < 1 || s > 250)) throw new Error(`--sizes, --user-sizes: secondaries per run must be 1-250 (${NET}.2-251)`)
  if (!Number.isInteger(changes) || changes < 1 || changes > 10_000) throw new Error('--changes: 1-10000')
  if (!Number.isInteger(userChanges) || userChanges < 1 || userChanges > 1000) throw new Error('--user-changes: 1-1000')
  if (!['auto', 'primary', 'majority'].includes(COMMIT)) throw new Error('--commit: auto, primary or majority')
  if (!/^127\.\d+\.\d+$/.test(NET)) throw new Error('--net: the first three parts of a loopback address, e.g. 127.0.6')
  process.stdout.write([
    `Sync latency: primary ${PRIMARY}, secondaries ${secondaryAddress(0)}…; data directories under ` + tmpdir() + ' (same disk, fsync on).',
    `Each change: the bench rewrites /config/current.json on the primary (limits.idleTimeoutSeconds toggled) over a kept-open admin`,
    `SFTP session; ${WARMUP} warm-up changes, then ${changes} timed ones, ${GAP_MS} ms apart, one at a time.`,
    '  accepted   = write acknowledged by the primary (validated, persisted, change event fired).',
    '  confirmed  = every secondary applied it: for node processes, the moment each one\'s "configuration applied … by=cluster"',
    '               log line (written just before it acknowledges the push) reaches the bench; for lightweight nodes, the',
    '               moment each node\'s store commits. No polling of the nodes, so the observation adds no load.',
    '  primary    = the primary\'s /servers.json shows every secondary in-sync at the new revision (polled every 1 ms,',
    '               starting once all secondaries confirmed; an upper bound including the acks and one poll round trip).',
    `Lightweight (≥ ${lightweightFrom} secondaries): all secondaries in one Node process with real ssh2 endpoints; the primary is a process.`,
    '',
  ].join('\n') + '\n')
  const rows: Row[] = []
  for (const n of cases.includes('small') ? sizes : []) {
    const row = await measureSize(n, changes, n >= lightweightFrom, profileDir)
    rows.push(row)
    process.stdout.write(`  ${n} secondaries (${row.mode}): setup ${(row.setupMs / 1000).toFixed(1)} s (init, start, add-server joins; not timed); CPU per change: primary ${row.cpuPrimary.toFixed(1)} ms, secondaries ${row.cpuSecondaries.toFixed(1)} ms in all\n`)
  }
  if (rows.length > 0) {
    const header = ['secondaries', 'changes', 'accepted med/p95 ms', 'all confirmed med/p95 ms', 'primary sees all med/p95 ms', 'target (median)', 'result']
    const body = rows.map((r) => {
      const target = TARGETS[r.secondaries]
      const med = quantile(r.confirmed, 0.5)
      return [`${r.secondaries}${r.mode === 'lightweight' ? ' (lw)' : ''}`, String(r.changes), fmt(r.accepted), fmt(r.confirmed), fmt(r.primaryView), target ? `≤ ${target} ms` : '—', target ? (med <= target ? 'pass' : 'FAIL') : '—']
    })
    process.stdout.write('\n' + table([header, ...body]) + '\n')
  }
  const userRows: UsersRow[] = []
  if (cases.includes('users')) {
    process.stdout.write([
      '',
      `With ${users} users (real node processes, one worker each): each change adds one user on the primary (users-edit);`,
      `${WARMUP} warm-up and ${userChanges} timed changes per case. full = the primary sends whole documents (CLUSTER_SYNC_DELTA=0),`,
      `as before delta sync; delta = a patch against the revision each secondary holds. Commit policy ${COMMIT}.`,
      'users add ack (5 secondaries) = until the CLI\'s library call returns: before, read current.json, add, write it back,',
      'status; after, users-edit lookup + add. The password hash is made beforehand (scrypt costs the same at any size).',
      '',
    ].join('\n') + '\n')
    const med = (xs: number[]) => (xs.length ? quantile(xs, 0.5) : NaN)
    for (const n of userSizes) {
      // A case that cannot even form its cluster (commits refused on a loaded machine) is reported, not fatal.
      const got = await measureUsers(n, users, userChanges, userModes, profileDir).catch((error: Error) => {
        process.stdout.write(`  ${n} secondaries: the case failed: ${error.message.slice(0, 400)}\n`)
        return [] as UsersRow[]
      })
      for (const row of got) {
        userRows.push(row)
        process.stdout.write(`  ${n} secondaries, ${row.mode}: setup ${(row.setupMs / 1000).toFixed(1)} s; all confirmed median ${med(row.confirmed).toFixed(1)} ms; users add ack median ${med(row.ack).toFixed(1)} ms; ${row.failed.length} failed${row.failed.length ? ` (first: ${row.failed[0].slice(0, 200)})` : ''}\n`)
      }
    }
    const header = ['secondaries', 'mode', 'ok', 'accepted med/p95 ms', 'all confirmed med/p95 ms', 'bytes per push (med)', 'users add ack med/p95 ms']
    const body = userRows.map((r) => [String(r.secondaries), r.mode, `${r.confirmed.length}/${r.confirmed.length + r.failed.filter((f) => !f.startsWith('users add')).length}`, r.accepted.length ? fmt(r.accepted) : '—', r.confirmed.length ? fmt(r.confirmed) : '—', r.pushBytes.length ? String(Math.round(med(r.pushBytes))) : '—', r.ack.length ? fmt(r.ack) : '—'])
    process.stdout.write('\n' + table([header, ...body]) + '\n\nRatios (full ÷ delta, medians):\n')
    for (const n of userSizes) {
      const f = userRows.find((r) => r.secondaries === n && r.mode === 'full')
      const d = userRows.find((r) => r.secondaries === n && r.mode === 'delta')
      if (!f || !d) continue
      const ratio = (a: number[], b: number[]) => (a.length && b.length ? (med(a) / med(b)).toFixed(1) + '×' : 'n/a')
      process.stdout.write(`  ${n} secondaries: all confirmed ${ratio(f.confirmed, d.confirmed)} (target ≤ 150 ms at 20: ${n === 20 ? (med(d.confirmed) <= 150 ? 'pass' : 'FAIL') : '—'}); bytes per push ${ratio(f.pushBytes, d.pushBytes)}${n === 5 ? `; users add ack ${ratio(f.ack, d.ack)} (target ≤ 100 ms: ${med(d.ack) <= 100 ? 'pass' : 'FAIL'})` : ''}\n`)
    }
  }
  if (profileDir) process.stdout.write(`\nCPU profiles (primary-N, secondary-N or host-N): ${profileDir}\n`)
  process.exitCode = rows.every((r) => !TARGETS[r.secondaries] || quantile(r.confirmed, 0.5) <= TARGETS[r.secondaries]) ? 0 : 1
}

await main().catch((error: Error) => {
  process.stderr.write(`sync-latency: ${error.stack ?? error.message}\n`)
  process.exitCode = 2
})
