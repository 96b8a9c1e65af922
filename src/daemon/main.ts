// The node daemon: boot order, service supervision, reload on configuration change, graceful stop.
import path from 'node:path'
import {readFile} from 'node:fs/promises'
import {keyFingerprint, nodePaths, readNodeSettings} from '../config/node-dir.js'
import {ConfigFileError} from '../config/store.js'
import {ConfigStore} from '../config/store.js'
import {Defender} from '../net/defender.js'
import {formatHostPort} from '../protocol/index.js'
import {Membership} from '../cluster/membership.js'
import {registerProbe} from '../cluster/probe.js'
import {registerDrain} from '../cluster/drain.js'
import {registerBans} from '../cluster/bans.js'
import {SyncEngine} from '../cluster/sync-engine.js'
import {AdminService} from './admin/admin-service.js'
import {HealthService} from './health/health-service.js'
import {createLogger} from './log.js'
import {NodeRuntime, type NodeIdentity} from './node-runtime.js'
import type {Service} from './service.js'
import {registerServices} from './services.js'

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
export async function startNode(dataDir: string, options: {handleSignals?: boolean} = {}): Promise<RunningNode> {
  const dir = path.resolve(dataDir)
  const settings = await readNodeSettings(dir)
  const store = await ConfigStore.open(dir)
  const log = createLogger('node')
  const defender = new Defender(store.current.defender)
  const identity = await loadIdentity(dir)
  const runtime = new NodeRuntime(dir, settings, store, defender, log, identity)
  runtime.exec.set('status', async () => runtime.status())
  const engine = new SyncEngine(runtime)
  new Membership(runtime, engine).register()
  registerProbe(runtime)
  registerDrain(runtime)
  registerBans(runtime)

  const services: Service[] = [new AdminService(runtime), new HealthService(runtime), ...(await registerServices(runtime))]
  for (const s of services) runtime.serviceStates.set(s.name, () => s.status())
  const started: Service[] = []
  try {
    for (const s of services) {
      await s.start()
      started.push(s)
    }
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.stop(500)))
    throw error
  }

  engine.start()
  store.on('change', (config, previous) => {
    defender.update(config.defender)
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
      await Promise.allSettled([...services].reverse().map((s) => s.stop(5000)))
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
