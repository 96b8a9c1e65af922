// A file-service worker process: runs the SFTP, FTP and web sessions of the sockets its supervisor admitted.
// It never listens on a client port (the supervisor's gate is the one gate) and never writes the
// configuration; bans and connection counts are the supervisor's, reported to it as they happen.
import type {Socket} from 'node:net'
import type {ClusterConfig, DefenderSettings} from '../../config/schema.js'
import {applyPatch} from '../../config/config-patch.js'
import {Defender} from '../../net/defender.js'
import {admission, type Admission} from '../../net/connection-gate.js'
import {FtpService} from '../ftp/ftp-service.js'
import {createLogger, type Logger} from '../log.js'
import {descriptors, openFileLimit, RESERVE} from '../session/descriptor-budget.js'
import {SftpService} from '../sftp/sftp-service.js'
import {configureUploads} from '../session/upload.js'
import {WebService} from '../web/web-service.js'
import type {ServiceContext} from '../service.js'
import type {FromWorker, ToWorker} from './ipc.js'

function send(message: FromWorker): void {
  if (process.connected) process.send!(message)
}

/** The worker's defender: the supervisor scores, bans and counts checks in flight; this mirror answers the synchronous questions. */
class SharedDefender extends Defender {
  private seq = 0
  private readonly pending = new Map<number, (ok: boolean) => void>()
  constructor(settings: DefenderSettings) {
    super(settings)
  }
  /** The supervisor's answer to a `begin`. */
  begun(seq: number, ok: boolean): void {
    const f = this.pending.get(seq)
    this.pending.delete(seq)
    f?.(ok)
  }
  /** Refuses every check still waiting (the supervisor is gone). */
  abandon(): void {
    for (const f of this.pending.values()) f(false)
    this.pending.clear()
  }
  /** A credential-check slot from the supervisor's table, so guesses through every worker share one count. */
  override begin(address: string, maxWaitMs = 10_000): Promise<boolean> {
    if (this.isBanned(address) || !process.connected) return Promise.resolve(false)
    const seq = ++this.seq
    return new Promise((resolve) => {
      this.pending.set(seq, resolve)
      send({t: 'begin', seq, address, maxWaitMs})
    })
  }
  override end(address: string): void {
    send({t: 'end', address})
  }
  override recordFailure(address: string, points?: number): boolean {
    send({t: 'failure', address, ...(points === undefined ? {} : {points})})
    return super.recordFailure(address, points)
  }
  override recordSuccess(address: string): void {
    send({t: 'success', address})
    super.recordSuccess(address)
  }
}

/** A logger whose every line names the worker. */
function workerLogger(base: Logger, id: number): Logger {
  const tag = (f?: Record<string, unknown>) => ({...f, worker: id})
  return {
    debug: (m, f) => base.debug(m, tag(f)),
    info: (m, f) => base.info(m, tag(f)),
    warn: (m, f) => base.warn(m, tag(f)),
    error: (m, f) => base.error(m, tag(f)),
    child: (c) => workerLogger(base.child(c), id),
  }
}

/** A connection the supervisor admitted: its slot is the supervisor's, told of authentication and close. */
function remoteAdmission(id: number, address: string): Admission {
  return admission(address, () => send({t: 'authenticated', admission: id}), () => send({t: 'release', admission: id}))
}

async function main(): Promise<void> {
  const init = await new Promise<Extract<ToWorker, {t: 'init'}>>((resolve) => {
    const first = (m: ToWorker) => {
      if (m.t !== 'init') return
      process.off('message', first)
      resolve(m)
    }
    process.on('message', first)
  })
  const log = workerLogger(createLogger('worker'), init.id)
  const source = {current: init.config}
  let draining = init.draining
  const defender = new SharedDefender(init.config.defender)
  for (const b of init.bans) defender.mirrorBan(b.address, b.until)
  const ctx: ServiceContext = {dataDir: init.dataDir, settings: init.settings, store: source, defender, log, draining: () => draining}
  // This process's own descriptor budget for the file services (issue 9), per user from the configuration.
  const budget = (c: ClusterConfig) => {
    descriptors.configure(Math.max(64, (openFileLimit() ?? 1024) - RESERVE), c.limits.descriptorsPerUser)
    configureUploads({sync: c.sites.files.syncUploads})
  }
  budget(init.config)
  const sftp = new SftpService(ctx, true)
  const ftp = new FtpService(ctx, {adopted: true})
  let revokeSeq = 0
  const revokes = new Map<number, (error: string | null) => void>()
  // a web logout changes the configuration: the supervisor does it (on the primary, or through it)
  // (the supervisor first makes every worker refuse the sessions, so the next request fails on any of them)
  const revokeSessions = (user: string, floor: number) => new Promise<void>((resolve, reject) => {
    const seq = ++revokeSeq
    revokes.set(seq, (error) => (error === null ? resolve() : reject(new Error(error))))
    send({t: 'revoke', seq, user, floor})
  })
  const web = new WebService(ctx, {adopted: true, revokeSessions})
  for (const [user, floor] of init.floors) web.holdFloor(user, floor)
  await sftp.start()
  await ftp.start()
  await web.start()
  const applyConfig = (config: ClusterConfig, seq: number) => {
    const previous = source.current
    source.current = config
    defender.update(config.defender)
    budget(config)
    Promise.allSettled([sftp.reload(config, previous), Promise.resolve(ftp.reload(config, previous)), web.reload(config)])
      .then((results) => {
        for (const r of results) if (r.status === 'rejected') log.error('reload failed', {error: (r.reason as Error).message})
      })
      .finally(() => send({t: 'config-ack', seq}))
  }

  let stopping = false
  process.on('message', (m: ToWorker, handle?: Socket) => {
    switch (m.t) {
      case 'socket': {
        if (!handle) return
        const admission = remoteAdmission(m.admission, m.address)
        if (stopping) {
          admission.release()
          return void handle.destroy()
        }
        if (m.head && m.head.length > 0) handle.unshift(m.head)
        if (m.listener === 'sftp') sftp.adopt(handle, admission)
        else if (m.listener === 'https' || m.listener === 'http') web.adopt(handle, admission, m.listener === 'https')
        else ftp.adopt(handle, admission, m.listener === 'ftps')
        return
      }
      case 'config':
        return applyConfig(m.config, m.seq)
      case 'config-delta': {
        // A patch against what this worker runs: with a large directory, a few bytes instead of the document.
        const c = source.current
        if (c.revision !== m.base.revision || c.epoch !== m.base.epoch) return send({t: 'config-ack', seq: m.seq, stale: true})
        let next: ClusterConfig
        try {
          next = applyPatch(c, m.ops)
        } catch {
          return send({t: 'config-ack', seq: m.seq, stale: true})
        }
        return applyConfig(next, m.seq)
      }
      case 'ban':
        return defender.mirrorBan(m.address, m.until)
      case 'begun':
        return defender.begun(m.seq, m.ok)
      case 'floor':
        web.holdFloor(m.user, m.floor)
        return send({t: 'floor-ack', seq: m.seq})
      case 'revoked': {
        const f = revokes.get(m.seq)
        revokes.delete(m.seq)
        return f?.(m.error)
      }
      case 'draining':
        draining = m.value
        return
      case 'stats': {
        const cpu = process.cpuUsage()
        return send({t: 'stats', seq: m.seq, sessions: sftp.sessionCount + ftp.sessions, webSessions: web.sessionCount, cpuMicros: cpu.user + cpu.system, rssBytes: process.memoryUsage.rss()})
      }
      case 'stop': {
        if (stopping) return
        stopping = true
        void Promise.allSettled([sftp.stop(m.deadlineMs), ftp.stop(m.deadlineMs), web.stop(m.deadlineMs)]).then(() => process.exit(0))
        return
      }
    }
  })
  // The supervisor is gone (killed): nobody can admit or account for sessions any more.
  process.on('disconnect', () => {
    defender.abandon()
    process.exit(0)
  })
  process.on('SIGTERM', () => {}) // the supervisor decides when workers stop (a process-group SIGTERM reaches us too)
  process.on('SIGINT', () => {})
  send({t: 'ready'})
}

main().catch((error: Error) => {
  process.stderr.write(`worker failed to start: ${error.message}\n`)
  process.exit(1)
})
