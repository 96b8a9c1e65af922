// The shape every listener of the daemon has (admin, health, sftp, ftp): start, stop, reload, status.
import type {ClusterConfig} from '../config/schema.js'
import type {NodeSettings} from '../config/node-dir.js'
import type {ServiceState} from '../protocol/index.js'
import type {Defender} from '../net/defender.js'
import type {Logger} from './log.js'

export interface Service {
  readonly name: string
  /** Binds and starts accepting; rejects with an OperationError naming the address and port on failure. */
  start(): Promise<void>
  /** Stops accepting, lets sessions finish up to the deadline, then closes them. */
  stop(deadlineMs?: number): Promise<void>
  /** Applies a new configuration without dropping sessions or transfers in progress. */
  reload(config: ClusterConfig, previous: ClusterConfig): void | Promise<void>
  status(): ServiceState
}

/** Where a service reads the configuration in effect: the store in the supervisor, a mirror in a worker. */
export interface ConfigSource {
  readonly current: ClusterConfig
}

/** What the daemon hands every service. */
export interface ServiceContext {
  dataDir: string
  settings: NodeSettings
  store: ConfigSource
  /** One defender per node: bans apply to every protocol of the node. */
  defender: Defender
  log: Logger
  /** True while the node is draining: refuse new sessions, let transfers finish. */
  draining(): boolean
}
