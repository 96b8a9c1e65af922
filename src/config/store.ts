// The versioned configuration store of a node: config/current.json written atomically, every revision kept
// in config/history/ (bounded), an audit trail in config/audit.log, one writer at a time.
import {EventEmitter} from 'node:events'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {MAX_CONFIG_BYTES, OperationError} from '../protocol/index.js'
import {contentHash} from './canonical-json.js'
import {removeStaleTemps, writeFileAtomic} from './atomic-file.js'
import {ConfigValidationError, validateConfig, type ChangeRecord, type ClusterConfig} from './schema.js'

export const HISTORY_LIMIT = 100

/** Raised when a configuration file on disk cannot be used; names the file and the problem. */
export class ConfigFileError extends Error {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`)
    this.name = 'ConfigFileError'
  }
}

export interface ChangeContext {
  by: string
  from: string
  summary: string
}

export interface AuditRecord extends ChangeRecord {
  revision: number
  epoch: number
  hash: string
}

export function configPaths(dataDir: string) {
  const dir = path.join(dataDir, 'config')
  return {
    dir,
    current: path.join(dir, 'current.json'),
    history: path.join(dir, 'history'),
    backups: path.join(dir, 'backups'),
    audit: path.join(dir, 'audit.log'),
  }
}

/** The configuration's one encoding (files, history, pushes); refuses a document no member would accept. */
export function serializeConfig(config: ClusterConfig, limit = MAX_CONFIG_BYTES): string {
  const text = JSON.stringify(config, null, 2) + '\n'
  const size = Buffer.byteLength(text)
  if (size > limit) {
    throw new OperationError('invalid', `the configuration would be ${size} bytes, more than the ${limit} bytes every member accepts (MAX_CONFIG_BYTES); the change was not made`, 'remove what is no longer needed (users, rules) or split the directory')
  }
  return text
}

/** Reads and validates a configuration file; never modifies it. */
export async function readConfigFile(file: string): Promise<ClusterConfig> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    throw new ConfigFileError(file, e.code === 'ENOENT' ? 'missing' : `cannot be read (${e.code ?? e.message})`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new ConfigFileError(file, `is not valid JSON (${(error as Error).message})`)
  }
  try {
    return validateConfig(parsed)
  } catch (error) {
    if (error instanceof ConfigValidationError) throw new ConfigFileError(file, `invalid field ${error.message}`)
    throw error
  }
}

export class ConfigStore extends EventEmitter {
  private config: ClusterConfig
  private configHash: string
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(readonly dataDir: string, config: ClusterConfig) {
    super()
    this.config = config
    this.configHash = contentHash(config)
  }

  static async open(dataDir: string): Promise<ConfigStore> {
    const p = configPaths(dataDir)
    await removeStaleTemps(p.dir)
    await removeStaleTemps(p.history)
    const config = await readConfigFile(p.current)
    return new ConfigStore(dataDir, config)
  }

  /** Creates the store of a new node; refuses to replace an existing configuration. */
  static async create(dataDir: string, config: ClusterConfig, change: ChangeContext): Promise<ConfigStore> {
    const p = configPaths(dataDir)
    await fs.mkdir(p.history, {recursive: true, mode: 0o700})
    await fs.mkdir(p.backups, {recursive: true, mode: 0o700})
    try {
      await fs.access(p.current)
      throw new OperationError('refused', `${p.current} already exists`, 'this node is already initialised; use another directory')
    } catch (error) {
      if (error instanceof OperationError) throw error
    }
    const valid = validateConfig(config)
    const store = new ConfigStore(dataDir, valid)
    await store.persist(valid, change)
    return store
  }

  get current(): ClusterConfig {
    return this.config
  }

  get hash(): string {
    return this.configHash
  }

  get paths() {
    return configPaths(this.dataDir)
  }

  /**
   * A local change: `mutate` gets a deep copy of the current configuration and returns the next one; the
   * revision is bumped. With `baseRevision`, the change is refused as a conflict unless it is still current.
   */
  change(mutate: (draft: ClusterConfig) => ClusterConfig | void, ctx: ChangeContext, baseRevision?: number): Promise<ClusterConfig> {
    return this.serial(async () => {
      if (baseRevision !== undefined && baseRevision !== this.config.revision) {
        throw new OperationError(
          'conflict',
          `stale baseRevision ${baseRevision}: the configuration is at revision ${this.config.revision}`,
          'read /config/current.json again, reapply your change and write it with the new baseRevision',
        )
      }
      const draft = structuredClone(this.config)
      const next = (mutate(draft) ?? draft) as ClusterConfig
      const candidate = {...next, revision: this.config.revision + 1} as Record<string, unknown>
      delete candidate.baseRevision
      candidate.lastChange = {by: ctx.by, from: ctx.from, at: new Date().toISOString(), summary: ctx.summary}
      const valid = this.validate(candidate)
      await this.persist(valid, ctx)
      return valid
    })
  }

  /** Replaces the configuration with one from the primary (or a rollback), keeping its revision and epoch. */
  replace(next: unknown, ctx: ChangeContext, check?: (incoming: ClusterConfig, current: ClusterConfig) => void): Promise<ClusterConfig> {
    return this.serial(async () => {
      const candidate = {...(next as Record<string, unknown>)}
      delete candidate.baseRevision
      const valid = this.validate(candidate)
      check?.(valid, this.config)
      await this.persist(valid, ctx)
      return valid
    })
  }

  /** Revisions kept in history, newest first. */
  async history(): Promise<number[]> {
    const names = await fs.readdir(this.paths.history).catch(() => [] as string[])
    return names
      .map((n) => /^(\d+)\.json$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => b - a)
  }

  async historyEntry(revision: number): Promise<ClusterConfig> {
    const file = path.join(this.paths.history, `${revision}.json`)
    try {
      return await readConfigFile(file)
    } catch (error) {
      if (error instanceof ConfigFileError && error.message.endsWith('missing')) {
        throw new OperationError('invalid', `revision ${revision} is not in the history`, 'list kept revisions with `cluster config history`')
      }
      throw error
    }
  }

  async audit(limit = 100): Promise<AuditRecord[]> {
    const text = await fs.readFile(this.paths.audit, 'utf8').catch(() => '')
    return text
      .split('\n')
      .filter(Boolean)
      .slice(-limit)
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as AuditRecord]
        } catch {
          return [] // a torn last line after a crash is skipped
        }
      })
  }

  private validate(candidate: unknown): ClusterConfig {
    try {
      return validateConfig(candidate)
    } catch (error) {
      if (error instanceof ConfigValidationError) {
        throw new OperationError('invalid', `invalid configuration: ${error.message}`, 'fix the field named and write the configuration again')
      }
      throw error
    }
  }

  private readonly appliers: ((config: ClusterConfig) => Promise<void>)[] = []

  /** Awaited after every change before the writer is answered (worker processes applying it). */
  addApplier(apply: (config: ClusterConfig) => Promise<void>): void {
    this.appliers.push(apply)
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => {})
    return run
  }

  private async persist(config: ClusterConfig, ctx: ChangeContext): Promise<void> {
    const p = this.paths
    const text = serializeConfig(config)
    try {
      // Two independent durable replacements (temp, fsync, rename, dir fsync) side by side: half the chain of fs
      // round trips each push waits for. current.json decides: once it is replaced the revision is in effect,
      // and a failed history copy only leaves that revision out of `config history`.
      const [, current] = await Promise.allSettled([writeFileAtomic(path.join(p.history, `${config.revision}.json`), text), writeFileAtomic(p.current, text)])
      if (current.status === 'rejected') throw current.reason
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      const hint = e.code === 'ENOSPC' ? 'free space on the disk holding the data directory' : 'check the data directory\'s permissions and disk'
      throw new OperationError('io', `cannot write the configuration (${e.code ?? e.message}); revision ${this.config.revision} is still in effect`, hint)
    }
    const previous = this.config
    this.config = config
    this.configHash = contentHash(config)
    const record: AuditRecord = {
      by: ctx.by, from: ctx.from, at: new Date().toISOString(), summary: ctx.summary,
      revision: config.revision, epoch: config.epoch, hash: this.configHash,
    }
    // Independent of each other: the audit line and the history pruning overlap.
    await Promise.all([fs.appendFile(p.audit, JSON.stringify(record) + '\n', {mode: 0o600}).catch(() => {}), this.pruneHistory()])
    this.emit('change', config, previous)
    // a change is acknowledged only once every process serving clients runs it
    await Promise.all(this.appliers.map((apply) => apply(config).catch(() => {})))
  }

  private async pruneHistory(): Promise<void> {
    const revisions = await this.history()
    await Promise.all(revisions.slice(HISTORY_LIMIT).map((r) => fs.rm(path.join(this.paths.history, `${r}.json`), {force: true})))
  }
}
