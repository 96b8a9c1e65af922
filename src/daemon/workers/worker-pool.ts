// The supervisor's file-service workers: forks them, hands each admitted connection to the least loaded one
// (the socket's descriptor moves, its bytes never pass through here), keeps the connection counts and the ban
// table for all of them, fans configuration and drain out, restarts a worker that dies.
import {fork, type ChildProcess} from 'node:child_process'
import type {Socket} from 'node:net'
import {fileURLToPath} from 'node:url'
import type {NodeSettings} from '../../config/node-dir.js'
import type {ClusterConfig} from '../../config/schema.js'
import {diffConfig, type PatchOp} from '../../config/config-patch.js'
import type {Admission} from '../../net/connection-gate.js'
import type {Defender} from '../../net/defender.js'
import type {Logger} from '../log.js'
import type {WorkerStatus} from '../../protocol/index.js'
import type {FileListener, FromWorker, ToWorker} from './ipc.js'

const ENTRY = fileURLToPath(new URL('./worker-main.js', import.meta.url))
/** A worker that has not said 'ready' by then is killed and started again. */
const READY_TIMEOUT_MS = 15_000
/** A configuration not acknowledged by then is acknowledged anyway; the late worker is restarted. */
const CONFIG_ACK_TIMEOUT_MS = 3_000
const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 5_000

/** One worker as `node status` shows it. */
export type WorkerInfo = WorkerStatus

interface Worker {
  id: number
  child: ChildProcess | null
  state: WorkerInfo['state']
  admissions: Map<number, Admission>
  /** Credential checks this worker has begun and not ended, per address (ended for it when it dies). */
  checks: Map<string, number>
  restarts: number
  failuresInARow: number
  startedAt: number
  lastExit: WorkerInfo['lastExit']
  cpuMicros: number
  rssBytes: number
  sessionsReported: number
  webSessionsReported: number
  /** The configuration this worker runs (sent at init or acknowledged): the base of the next delta. */
  runs: ClusterConfig | null
}

export interface WorkerPoolOptions {
  count: number
  dataDir: string
  settings: NodeSettings
  config: () => ClusterConfig
  defender: Defender
  /** Revokes a user's web sessions cluster-wide (a worker's web logout). */
  revokeWebSessions?: (user: string) => Promise<void>
  log: Logger
  draining: () => boolean
}

export class WorkerPool {
  private readonly workers: Worker[] = []
  private nextAdmission = 1
  private seq = 0
  /** Web logouts not yet carried by the configuration: user → lowest session epoch still valid. */
  private readonly floors = new Map<string, number>()
  private stopping = false
  private readonly waiters = new Map<string, () => void>()
  /** Config acks that said the worker runs another base than the delta's: it gets the full document. */
  private readonly stale = new Set<string>()
  private readonly log: Logger

  constructor(private readonly opts: WorkerPoolOptions) {
    this.log = opts.log.child('workers')
    for (let id = 1; id <= opts.count; id++) {
      this.workers.push({id, child: null, state: 'stopped', admissions: new Map(), checks: new Map(), restarts: 0, failuresInARow: 0, startedAt: 0, lastExit: null, cpuMicros: 0, rssBytes: 0, sessionsReported: 0, webSessionsReported: 0, runs: null})
    }
  }

  /** Forks every worker and waits until each is ready; rejects when one cannot start. */
  async start(): Promise<void> {
    await Promise.all(this.workers.map((w) => this.spawn(w)))
    this.log.info('workers ready', {count: this.workers.length, pids: this.workers.map((w) => w.child?.pid).join(',')})
  }

  /** Workers able to take a connection now. */
  get alive(): number {
    return this.workers.filter((w) => w.state === 'up').length
  }

  /** Hands an admitted connection to the least loaded worker; false when none is up (the caller refuses). */
  dispatch(listener: FileListener, socket: Socket, admission: Admission, head: Buffer | null): boolean {
    let best: Worker | null = null
    for (const w of this.workers) if (w.state === 'up' && (!best || w.admissions.size < best.admissions.size)) best = w
    if (!best || !best.child?.connected) return false
    const id = this.nextAdmission++
    best.admissions.set(id, admission)
    const message: ToWorker = {t: 'socket', listener, admission: id, address: admission.address, head}
    const worker = best
    best.child.send(message, socket, {keepOpen: false}, (error) => {
      if (!error) return
      this.log.warn('could not hand a connection to a worker', {worker: worker.id, error: error.message})
      worker.admissions.delete(id)
      admission.release()
      socket.destroy()
    })
    return true
  }

  /** Sends a new configuration to every worker; resolves once each applied it (or timed out and is restarted). */
  async broadcastConfig(config: ClusterConfig): Promise<void> {
    for (const [user, floor] of this.floors) if ((config.sites.web.sessionEpochs[user] ?? 0) >= floor) this.floors.delete(user)
    const seq = ++this.seq
    // A patch against what each worker runs (made once per base): a one-user change is not a 20 MB message.
    const deltas = new Map<ClusterConfig, PatchOp[]>()
    await Promise.all(
      this.workers.filter((w) => w.state === 'up').map(async (w) => {
        const key = `config-${w.id}-${seq}`
        const base = w.runs
        let acked: boolean
        if (base && base !== config) {
          let ops = deltas.get(base)
          if (!ops) deltas.set(base, (ops = diffConfig(base, config)))
          acked = await this.request(w, {t: 'config-delta', seq, base: {epoch: base.epoch, revision: base.revision}, ops}, key, CONFIG_ACK_TIMEOUT_MS)
          if (acked && this.stale.delete(key)) acked = await this.request(w, {t: 'config', seq, config}, key, CONFIG_ACK_TIMEOUT_MS)
        } else {
          acked = await this.request(w, {t: 'config', seq, config}, key, CONFIG_ACK_TIMEOUT_MS)
        }
        if (acked) w.runs = config
        if (!acked && w.state === 'up') {
          this.log.error('worker did not apply a configuration in time; restarting it', {worker: w.id, revision: config.revision})
          w.child?.kill('SIGKILL')
        }
      }),
    )
  }

  setDraining(value: boolean): void {
    for (const w of this.workers) this.post(w, {t: 'draining', value})
  }

  /** Pushes a ban (or, with until 0, a lifted ban) to every worker's mirror. */
  mirrorBan(address: string, until: number): void {
    for (const w of this.workers) this.post(w, {t: 'ban', address, until})
  }

  /**
   * A web logout: every worker refuses the user's sessions below `floor` before the logout is answered, so
   * the client's next request fails whichever worker it reaches (the primary's epoch bump follows). Kept for
   * workers started later until the configuration carries the bump.
   */
  private async holdFloor(user: string, floor: number): Promise<void> {
    this.floors.set(user, Math.max(floor, this.floors.get(user) ?? 0))
    const seq = ++this.seq
    await Promise.all(this.workers.filter((w) => w.state === 'up').map((w) => this.request(w, {t: 'floor', seq, user, floor}, `floor-${w.id}-${seq}`, 1000)))
  }

  /** Fresh figures from every worker (sessions, CPU, memory). */
  async info(): Promise<WorkerInfo[]> {
    const seq = ++this.seq
    await Promise.all(this.workers.filter((w) => w.state === 'up').map((w) => this.request(w, {t: 'stats', seq}, `stats-${w.id}-${seq}`, 1000)))
    return this.workers.map((w) => ({
      id: w.id,
      pid: w.child?.pid ?? null,
      state: w.state,
      sessions: w.admissions.size,
      cpuSeconds: Math.round(w.cpuMicros / 1e4) / 100,
      rssBytes: w.rssBytes,
      restarts: w.restarts,
      lastExit: w.lastExit,
    }))
  }

  /** Web sessions seen recently, summed over the workers (fresh figures). */
  async webSessions(): Promise<number> {
    await this.info()
    return this.workers.reduce((n, w) => n + (w.state === 'up' ? w.webSessionsReported : 0), 0)
  }

  /** Restarts within the last minute, for /healthz notes. */
  recentRestarts(withinMs = 60_000): string[] {
    const since = Date.now() - withinMs
    return this.workers.filter((w) => w.lastExit && Date.parse(w.lastExit.at) >= since).map((w) => `worker ${w.id} restarted after ${w.lastExit!.reason} at ${w.lastExit!.at}`)
  }

  /** Asks every worker to finish its sessions within the deadline, then kills what is left. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true
    await Promise.all(
      this.workers.map(async (w) => {
        const child = w.child
        if (!child || child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
        this.post(w, {t: 'stop', deadlineMs})
        const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs + 1000)
        await exited
        clearTimeout(timer)
      }),
    )
  }

  private spawn(w: Worker): Promise<void> {
    w.state = w.restarts > 0 ? 'restarting' : 'starting'
    const child = fork(ENTRY, [], {execArgv: [], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    w.child = child
    w.startedAt = Date.now()
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`worker ${w.id} did not start within ${READY_TIMEOUT_MS / 1000} s`))
      }, READY_TIMEOUT_MS)
      this.waiters.set(`ready-${w.id}`, () => {
        clearTimeout(timer)
        resolve()
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        if (w.state !== 'up') reject(new Error(`worker ${w.id} exited while starting (${signal ? `signal ${signal}` : `exit ${code}`}); see the log above`))
      })
    })
    child.on('message', (m: FromWorker) => this.onMessage(w, m))
    child.on('error', (error) => this.log.warn('worker channel error', {worker: w.id, error: error.message}))
    child.once('exit', (code, signal) => this.onExit(w, child, code, signal))
    const c = this.opts.config()
    w.runs = c
    this.post(w, {t: 'init', id: w.id, dataDir: this.opts.dataDir, settings: this.opts.settings, config: c, draining: this.opts.draining(), bans: this.opts.defender.bans().map((b) => ({address: b.address, until: Date.now() + b.secondsLeft * 1000})), floors: [...this.floors]})
    return ready.then(() => {
      w.state = 'up'
    })
  }

  private onExit(w: Worker, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (w.child !== child) return
    w.child = null
    // its connections are gone with it: free their slots in the gate
    for (const a of w.admissions.values()) a.release()
    w.admissions.clear()
    for (const [address, n] of w.checks) for (let i = 0; i < n; i++) this.opts.defender.end(address)
    w.checks.clear()
    if (this.stopping) {
      w.state = 'stopped'
      return
    }
    const reason = signal ? `signal ${signal}` : `exit ${code}`
    w.lastExit = {reason, at: new Date().toISOString()}
    w.failuresInARow = Date.now() - w.startedAt > 30_000 ? 1 : w.failuresInARow + 1
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (w.failuresInARow - 1))
    w.state = 'restarting'
    this.log.error('worker died; restarting it', {worker: w.id, reason, inMs: delay})
    const timer = setTimeout(() => {
      if (this.stopping) return
      w.restarts += 1
      this.spawn(w).catch((error: Error) => this.log.error('worker restart failed', {worker: w.id, error: error.message}))
    }, delay)
    timer.unref()
  }

  private onMessage(w: Worker, m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        return this.resolve(`ready-${w.id}`)
      case 'config-ack':
        if (m.stale) this.stale.add(`config-${w.id}-${m.seq}`)
        return this.resolve(`config-${w.id}-${m.seq}`)
      case 'floor-ack':
        return this.resolve(`floor-${w.id}-${m.seq}`)
      case 'stats':
        w.cpuMicros = m.cpuMicros
        w.rssBytes = m.rssBytes
        w.sessionsReported = m.sessions
        w.webSessionsReported = m.webSessions
        return this.resolve(`stats-${w.id}-${m.seq}`)
      case 'authenticated':
        return w.admissions.get(m.admission)?.authenticated()
      case 'release': {
        const a = w.admissions.get(m.admission)
        w.admissions.delete(m.admission)
        return a?.release()
      }
      case 'failure': {
        if (this.opts.defender.recordFailure(m.address, m.points)) this.mirrorBan(m.address, Date.now() + this.opts.defender.banRemaining(m.address))
        return
      }
      case 'success':
        return this.opts.defender.recordSuccess(m.address)
      case 'begin': {
        const child = w.child
        void this.opts.defender.begin(m.address, m.maxWaitMs).then((ok) => {
          if (ok && w.child !== child) return this.opts.defender.end(m.address) // the worker died meanwhile
          if (ok) w.checks.set(m.address, (w.checks.get(m.address) ?? 0) + 1)
          this.post(w, {t: 'begun', seq: m.seq, ok})
        })
        return
      }
      case 'revoke': {
        const revoke = this.opts.revokeWebSessions ?? (async () => {})
        void this.holdFloor(m.user, m.floor).then(() => revoke(m.user)).then(
          () => this.post(w, {t: 'revoked', seq: m.seq, error: null}),
          (error: Error) => this.post(w, {t: 'revoked', seq: m.seq, error: error.message}),
        )
        return
      }
      case 'end': {
        const n = w.checks.get(m.address) ?? 0
        if (n === 0) return
        if (n > 1) w.checks.set(m.address, n - 1)
        else w.checks.delete(m.address)
        return this.opts.defender.end(m.address)
      }
    }
  }

  private post(w: Worker, m: ToWorker): void {
    if (w.child?.connected) w.child.send(m, (error: Error | null) => error && this.log.debug('worker message not delivered', {worker: w.id, type: m.t}))
  }

  private request(w: Worker, m: ToWorker, key: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key)
        resolve(false)
      }, timeoutMs)
      this.waiters.set(key, () => {
        clearTimeout(timer)
        resolve(true)
      })
      this.post(w, m)
    })
  }

  private resolve(key: string): void {
    const f = this.waiters.get(key)
    this.waiters.delete(key)
    f?.()
  }
}
