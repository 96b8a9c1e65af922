// Messages between the supervisor and its file-service workers (child_process IPC, advanced serialization,
// so Buffers and whole configuration documents travel as they are; sockets travel as handles).
import type {ClusterConfig} from '../../config/schema.js'
import type {PatchOp} from '../../config/config-patch.js'
import type {NodeSettings} from '../../config/node-dir.js'

/** The listeners the supervisor accepts on and hands to a worker. */
export type FileListener = 'sftp' | 'ftp' | 'ftps' | 'https' | 'http'

export type ToWorker =
  | {t: 'init'; id: number; dataDir: string; settings: NodeSettings; config: ClusterConfig; draining: boolean; bans: {address: string; until: number}[]; floors: [string, number][]}
  /** A new configuration: the worker applies it, then acks with the same seq. */
  | {t: 'config'; seq: number; config: ClusterConfig}
  /** The same as a patch against the configuration the worker runs (`base`); `stale` in the ack if it runs another. */
  | {t: 'config-delta'; seq: number; base: {epoch: number; revision: number}; ops: PatchOp[]}
  /** An admitted connection (the handle rides with the message); `head` holds bytes already read past a PROXY header. */
  | {t: 'socket'; listener: FileListener; admission: number; address: string; head: Buffer | null}
  | {t: 'ban'; address: string; until: number}
  | {t: 'draining'; value: boolean}
  | {t: 'stats'; seq: number}
  /** The answer to a worker's `begin`: whether it may check the credential now. */
  | {t: 'begun'; seq: number; ok: boolean}
  /** A web logout on one worker: every worker refuses the user's sessions below `floor` at once, then acks. */
  | {t: 'floor'; seq: number; user: string; floor: number}
  /** The answer to a worker's `revoke` (null: done). */
  | {t: 'revoked'; seq: number; error: string | null}
  | {t: 'stop'; deadlineMs: number}

export type FromWorker =
  | {t: 'ready'}
  | {t: 'config-ack'; seq: number; stale?: boolean}
  /** The connection of that admission has authenticated / has closed. */
  | {t: 'authenticated'; admission: number}
  | {t: 'release'; admission: number}
  | {t: 'failure'; address: string; points?: number}
  | {t: 'success'; address: string}
  /** Asks the supervisor's defender for a credential-check slot (parallel guesses across workers share one count). */
  | {t: 'begin'; seq: number; address: string; maxWaitMs: number}
  /** Ends a check started with `begin` (sent after its `failure` / `success`, so the score is recorded first). */
  | {t: 'end'; address: string}
  /** A web logout: the supervisor revokes the user's sessions cluster-wide (a configuration change on the primary). */
  | {t: 'revoke'; seq: number; user: string; floor: number}
  | {t: 'floor-ack'; seq: number}
  | {t: 'stats'; seq: number; sessions: number; webSessions: number; cpuMicros: number; rssBytes: number}
