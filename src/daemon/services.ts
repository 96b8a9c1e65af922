// The file-service listeners, wired in one place; each gets the same ServiceContext.
import {FtpService} from './ftp/ftp-service.js'
import type {NodeRuntime} from './node-runtime.js'
import type {Service, ServiceContext} from './service.js'
import {SftpService} from './sftp/sftp-service.js'

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

export async function registerServices(runtime: NodeRuntime): Promise<Service[]> {
  const ctx = serviceContext(runtime)
  return [new SftpService(ctx), new FtpService(ctx)]
}
