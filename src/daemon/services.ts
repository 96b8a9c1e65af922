// The file-service listeners, wired in one place; each gets the same ServiceContext.
import {FtpService} from './ftp/ftp-service.js'
import type {NodeRuntime} from './node-runtime.js'
import type {Service, ServiceContext} from './service.js'
import {SftpService} from './sftp/sftp-service.js'
import type {WorkerPool} from './workers/worker-pool.js'
import {FrontDoor} from './workers/front-door.js'
import {ensureSigningKeys, registerWebExec, sessionRevoker} from './web/web-cluster.js'
import {WebService} from './web/web-service.js'

export function serviceContext(runtime: NodeRuntime): ServiceContext {
  return {
    dataDir: runtime.dataDir,
    settings: runtime.settings,
    store: runtime.store,
    defender: runtime.defender,
    log: runtime.log,
    draining: () => runtime.draining,
  }
}

/** The web site (HTTPS, WebDAV, browser client) with its exec actions, in this process (a node without workers). */
export function webService(runtime: NodeRuntime): WebService {
  const web = new WebService(serviceContext(runtime), {revokeSessions: sessionRevoker(runtime)})
  registerWebExec(runtime, web)
  ensureSigningKeys(runtime)
  return web
}

/** With workers: the supervisor listens and admits, the workers run the web sessions; same exec actions. */
export function webFrontDoor(runtime: NodeRuntime, pool: WorkerPool): FrontDoor {
  const door = new FrontDoor('web', serviceContext(runtime), pool)
  registerWebExec(runtime, {
    nodeState: async () => {
      const c = runtime.config
      const up = door.status() !== 'down' && door.status() !== 'disabled'
      return {state: door.status(), httpsPort: up ? c.sites.web.httpsPort : null, httpPort: up ? c.sites.web.httpPort : null, sessions: await pool.webSessions(), keyId: c.serviceIdentity.webSigningKeys.currentKeyId}
    },
  })
  ensureSigningKeys(runtime)
  return door
}

export async function registerServices(runtime: NodeRuntime): Promise<Service[]> {
  const ctx = serviceContext(runtime)
  return [new SftpService(ctx), new FtpService(ctx), webService(runtime)]
}
