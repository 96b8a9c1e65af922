// The file-service listeners, wired in one place; each gets the same ServiceContext.
import {FtpService} from './ftp/ftp-service.js'
import type {NodeRuntime} from './node-runtime.js'
import type {Service, ServiceContext} from './service.js'
import {SftpService} from './sftp/sftp-service.js'
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

/** The web site (HTTPS, WebDAV, browser client) with its exec actions; it runs in this process (the supervisor with workers). */
export function webService(runtime: NodeRuntime): WebService {
  const web = new WebService(serviceContext(runtime), {revokeSessions: sessionRevoker(runtime)})
  registerWebExec(runtime, web)
  ensureSigningKeys(runtime)
  return web
}

export async function registerServices(runtime: NodeRuntime): Promise<Service[]> {
  const ctx = serviceContext(runtime)
  return [new SftpService(ctx), new FtpService(ctx), webService(runtime)]
}
