// The node daemon: boot order, service supervision, reload on configuration change, graceful stop.
import os from 'node:os'
import path from 'node:path'
import {readFile} from 'node:fs/promises'
import {keyFingerprint, nodePaths, readNodeSettings} from '../config/node-dir.js'
import {checkStorageSeparate} from '../config/storage-overlap.js'
import {descriptors, openFileLimit, RESERVE} from './session/descriptor-budget.js'
import {configureUploads} from './session/upload.js'
import {ConfigFileError} from '../config/store.js'
import {ConfigStore} from '../config/store.js'
import {Defender} from '../net/defender.js'
import {formatHostPort} from '../protocol/index.js'
import {Membership} from '../cluster/membership.js'
import {registerProbe} from '../cluster/probe.js'
import {registerDrain} from '../cluster/drain.js'
import {registerUserEdits} from '../cluster/user-edits.js'
import {registerBans} from '../cluster/bans.js'
import {SyncEngine} from '../cluster/sync-engine.js'
import {PromiseBook} from '../cluster/election.js'
import {AdminService} from './admin/admin-service.js'
import {HealthService} from './health/health-service.js'
import {createLogger} from './log.js'
import {NodeRuntime, type NodeIdentity} from './node-runtime.js'
import type {Service} from './service.js'
import {registerServices, serviceContext, webFrontDoor} from './services.js'
import {sessionRevoker} from './web/web-cluster.js'
import {FrontDoor} from './workers/front-door.js'
import {StripeService} from '../stripe/stripe-service.js'
import {WorkerPool} from './workers/worker-pool.js'

async function loadIdentity(dir: string): Promise<NodeIdentity> {
  const p = nodePaths(dir)
  const read = async (file: string) => {
    try {
      const text = await readFile(file, 'utf8')
      return {text, ...(await keyFingerprint(text))}
    } catch (error) {
      throw new ConfigFileError(file, `is not a usable SSH private key (${(error as Error).message})`)
    }
  }
  const host = await read(p.hostKey)
  const cluster = await read(p.clusterKey)
  return {hostKeyFingerprint: host.fingerprint, clusterPublicKey: cluster.publicKey, clusterPrivateKey: cluster.text}
}

export interface RunningNode {
  runtime: NodeRuntime
  stop(): Promise<void>
  /** Resolves when the node has stopped (signal or stop()). */
  stopped: Promise<void>
}

/** Starts a node from its data directory; rejects with an OperationError/ConfigFileError before serving. */
export async function startNode(dataDir: string, options: {handleSignals?: boolean; workers?: number} = {}): Promise<RunningNode> {
  const dir = path.resolve(dataDir)
  const settings = await readNodeSettings(dir)
  await checkStorageSeparate(dir, settings.storage)
  const store = await ConfigStore.open(dir)
  const log = createLogger('node')
  if (store.journalProblem) log.error('the configuration journal could not be replayed; it was set aside', {problem: store.journalProblem})
  const defender = new Defender(store.current.defender)
  const identity = await loadIdentity(dir)
  const runtime = new NodeRuntime(dir, settings, store, defender, log, identity)
  const workerCount = options.workers ?? settings.workers ?? os.availableParallelism()
  const pool = workerCount > 0
    ? new WorkerPool({count: workerCount, dataDir: dir, settings, config: () => store.current, defender, log, draining: () => runtime.draining, revokeWebSessions: sessionRevoker(runtime)})
    : null
  // The hash reported is of the file on disk, read again now: a hand edit shows as drift.
  runtime.exec.set('status', async () => {
    await store.refreshDiskHash()
    return pool ? {...runtime.status(), workers: await pool.info()} : runtime.status()
  })
  const engine = new SyncEngine(runtime)
  runtime.commitReport = () => engine.commitReport()
  runtime.clusterProblems = () => engine.problems()
  new Membership(runtime, engine, await PromiseBook.open(dir)).register()
  if (store.handEdit) log.error('config/current.json was changed outside the cluster: not serving it; the recorded revision stays in effect until the primary repairs the file', {revision: store.current.revision, fileRevision: store.handEdit.fileRevision})
  store.on('hand-edit', (edit: {fileRevision: number | null}) => log.error('config/current.json was changed outside the cluster: not serving it; the recorded revision stays in effect until the primary repairs the file', {revision: store.current.revision, fileRevision: edit.fileRevision}))
  registerProbe(runtime)
  registerDrain(runtime)
  registerUserEdits(runtime)
  registerBans(runtime)

  // With workers the supervisor keeps the listeners and the gate; the sessions run in the workers.
  const fileServices: Service[] = pool
    ? [new FrontDoor('sftp', serviceContext(runtime), pool), new FrontDoor('ftp', serviceContext(runtime), pool), webFrontDoor(runtime, pool)]
    : await registerServices(runtime)
  if (pool) {
    await pool.start()
    store.addApplier((config) => pool.broadcastConfig(config))
    runtime.onDrainingChange((value) => pool.setDraining(value))
    runtime.healthNotes = () => pool.recentRestarts()
  }
  // the striped cluster's node side and gateway run in the supervisor: the admin endpoint hands them the link
  const services: Service[] = [new AdminService(runtime), new HealthService(runtime), ...fileServices, new StripeService(runtime)]
  for (const s of services) runtime.serviceStates.set(s.name, () => s.status())
  const started: Service[] = []
  try {
    for (const s of services) {
      await s.start()
      started.push(s)
    }
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.stop(500)))
    await pool?.stop(500)
    throw error
  }

  engine.start()
  const fileDescriptors = () => {
    descriptors.configure(Math.max(64, (openFileLimit() ?? 1024) - RESERVE), store.current.limits.descriptorsPerUser)
    configureUploads({sync: store.current.sites.files.syncUploads})
  }
  fileDescriptors()
  if ((openFileLimit() ?? 0) < 4096) log.warn('low open-file limit: raise it (ulimit -n / systemd LimitNOFILE=65536) so file services keep a budget above the reserve', {limit: openFileLimit(), reserve: RESERVE})
  store.on('change', (config, previous) => {
    defender.update(config.defender)
    fileDescriptors()
    for (const s of services) {
      Promise.resolve(s.reload(config, previous)).catch((error: Error) => log.error('reload failed', {service: s.name, error: error.message}))
    }
  })

  let resolveStopped!: () => void
  const stopped = new Promise<void>((r) => (resolveStopped = r))
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      log.info('stopping')
      runtime.draining = true
      engine.stop()
      // workers finish their sessions alongside: the whole stop stays within the 5 s a supervisor (systemd) expects
      await Promise.allSettled([...[...services].reverse().map((s) => s.stop(4000)), pool?.stop(3500)])
      log.info('stopped')
      resolveStopped()
    })()
    return stopping
  }
  if (options.handleSignals) {
    const onSignal = (signal: string) => {
      log.info(`received ${signal}`)
      void stop()
    }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
  }
  const c = store.current
  log.info('ready', {
    nodeId: settings.nodeId,
    role: runtime.role(),
    revision: c.revision,
    admin: formatHostPort(settings.bind, c.sites.admin.port),
    health: formatHostPort(settings.bind, settings.healthPort),
  })
  return {runtime, stop, stopped}
}
