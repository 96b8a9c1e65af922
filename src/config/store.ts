// The versioned configuration store of a node: config/current.json written atomically, every revision kept
// in config/history/ (bounded), an audit trail in config/audit.log, one writer at a time. Nothing vanishes:
// a revision of another epoch never overwrites a kept one (it moves to config/diverged/ first), a change the
// primary proposed waits in config/staged.json, and a hand edit of current.json is detected, never served.
import {EventEmitter} from 'node:events'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {MAX_CONFIG_BYTES, OperationError} from '../protocol/index.js'
import {configHash as contentHash, configText} from './config-text.js'
import {removeStaleTemps, writeFileAtomic} from './atomic-file.js'
import {ConfigValidationError, validateConfig, type ChangeRecord, type ClusterConfig, type User} from './schema.js'

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
    diverged: path.join(dir, 'diverged'),
    staged: path.join(dir, 'staged.json'),
    audit: path.join(dir, 'audit.log'),
  }
}

/** The configuration's one encoding (files, history, pushes); refuses a document no member would accept. */
export function serializeConfig(config: ClusterConfig, limit = MAX_CONFIG_BYTES): string {
  const text = configText(config)
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

/** The content hash of a file as a node reports it: of the validated document, or why it has none. */
async function fileHash(file: string): Promise<string> {
  try {
    return contentHash(await readConfigFile(file))
  } catch (error) {
    return `unusable: ${(error as Error).message}`
  }
}

/**
 * Decides whether a local change may be committed (the primary's commit policy): resolves when enough
 * members hold `candidate`, throws to refuse it (nothing is written then).
 */
export type CommitGate = (candidate: ClusterConfig, current: ClusterConfig) => Promise<void>

/** A current.json whose content is not the revision the node recorded: what the node serves instead. */
export interface HandEdit {
  /** The content hash of the file as found. */
  fileHash: string
  fileRevision: number | null
  detectedAt: string
  /** The edited document, when it is a valid configuration (shown by `config diff`, never served). */
  config: ClusterConfig | null
}

export class ConfigStore extends EventEmitter {
  private config: ClusterConfig
  private configHash: string
  private queue: Promise<unknown> = Promise.resolve()
  private writing = 0
  /** The hash of current.json as last read from disk (equal to `hash` unless edited by hand). */
  private diskHash: string
  /** Set while current.json differs from the configuration in effect. */
  handEdit: HandEdit | null = null
  /** Set by the sync engine on a primary; local changes pass it before they are written. */
  commitGate: CommitGate | undefined
  /** inode:size:mtime:ctime of current.json as this store last wrote it (a hand edit changes them). */
  private writtenStat: string | null = null
  /** What config/staged.json holds, when this store wrote or removed it (null: no file); undefined: not known. */
  private stagedRef: {epoch: number; revision: number} | null | undefined

  private constructor(readonly dataDir: string, config: ClusterConfig) {
    super()
    this.config = config
    this.configHash = contentHash(config)
    this.diskHash = this.configHash
  }

  /**
   * Opens the store. A current.json whose revision is kept in history with other content was edited by
   * hand: the recorded revision is served instead, and the edit
   * waits for the primary's repair (or an operator's rollback); `handEdit` says so.
   */
  static async open(dataDir: string): Promise<ConfigStore> {
    const p = configPaths(dataDir)
    await removeStaleTemps(p.dir)
    await removeStaleTemps(p.history)
    const config = await readConfigFile(p.current)
    const hash = contentHash(config)
    const kept = await listHistory(p.history)
    let recorded: ClusterConfig | undefined
    // Only the same revision with other content is an edit: history is written beside current.json, so a crash
    // can leave a newer current.json without its history copy (that revision was acknowledged: serve it).
    if (kept.includes(config.revision)) recorded = await readConfigFile(path.join(p.history, `${config.revision}.json`)).catch(() => undefined)
    if (recorded && contentHash(recorded) !== hash) {
      const store = new ConfigStore(dataDir, recorded)
      store.diskHash = hash
      store.handEdit = {fileHash: hash, fileRevision: config.revision, detectedAt: new Date().toISOString(), config}
      return store
    }
    return new ConfigStore(dataDir, config)
  }

  /** The hash of current.json on disk, read again now; flags (or clears) a hand edit. */
  async refreshDiskHash(): Promise<string> {
    if (this.writing > 0) return this.diskHash // a write in progress replaces the file: what it reads is no edit
    // The file this store wrote, untouched since (same inode, size, change time): no need to read 20 MB again.
    const seen = await fs.stat(this.paths.current, {bigint: true}).then((st) => `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, () => null)
    if (seen !== null && seen === this.writtenStat && this.writing === 0) return this.diskHash
    const hash = await fileHash(this.paths.current)
    if (this.writing > 0) return this.diskHash
    if (hash === this.configHash) {
      this.handEdit = null
    } else if (!this.handEdit || this.handEdit.fileHash !== hash) {
      const file = await readConfigFile(this.paths.current).catch(() => undefined)
      this.handEdit = {fileHash: hash, fileRevision: file?.revision ?? null, detectedAt: new Date().toISOString(), config: file ?? null}
      this.emit('hand-edit', this.handEdit)
    }
    this.diskHash = hash
    return hash
  }

  /** The last known hash of current.json on disk. */
  get fileHash(): string {
    return this.diskHash
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
    return this.changeWith(mutate, ctx, baseRevision)
  }

  private changeWith(mutate: (draft: ClusterConfig) => ClusterConfig | void, ctx: ChangeContext, baseRevision?: number): Promise<ClusterConfig> {
    return this.serial(async () => {
      this.checkBase(baseRevision)
      const draft = structuredClone(this.config)
      const next = (mutate(draft) ?? draft) as ClusterConfig
      const candidate = {...next, revision: this.config.revision + 1} as Record<string, unknown>
      delete candidate.baseRevision
      candidate.lastChange = {by: ctx.by, from: ctx.from, at: new Date().toISOString(), summary: ctx.summary}
      const valid = this.validate(candidate)
      await this.commitGate?.(valid, this.config)
      await this.persist(valid, ctx)
      return valid
    })
  }

  /**
   * A small local change without copying the whole configuration: `make` returns the next configuration built
   * from the current one by copying only what it changes (the current one must stay as it is), or null for no
   * change (nothing written). Only the changed users are validated again; otherwise as `change`.
   */
  edit<R>(make: (current: ClusterConfig) => {next: ClusterConfig; result: R} | {next: null; result: R}, ctx: ChangeContext, baseRevision?: number): Promise<{config: ClusterConfig; result: R; changed: boolean}> {
    return this.serial(async () => {
      this.checkBase(baseRevision)
      const base = this.config
      const made = make(base)
      if (made.next === null) return {config: base, result: made.result, changed: false}
      const candidate = {...made.next, revision: base.revision + 1, lastChange: {by: ctx.by, from: ctx.from, at: new Date().toISOString(), summary: ctx.summary}} as Record<string, unknown>
      delete candidate.baseRevision
      const valid = this.validate(candidate, base)
      await this.commitGate?.(valid, base)
      await this.persist(valid, ctx)
      return {config: valid, result: made.result, changed: true}
    })
  }

  private checkBase(baseRevision: number | undefined): void {
    if (baseRevision !== undefined && baseRevision !== this.config.revision) {
      throw new OperationError(
        'conflict',
        `stale baseRevision ${baseRevision}: the configuration is at revision ${this.config.revision}`,
        'read /config/current.json again, reapply your change and write it with the new baseRevision',
      )
    }
  }

  /**
   * Replaces the configuration with one from the primary (or a rollback), keeping its revision and epoch.
   * `local`: a change made on this node (add-server on the primary): it passes the commit gate like `change`.
   */
  replace(next: unknown, ctx: ChangeContext, check?: (incoming: ClusterConfig, current: ClusterConfig) => void, opts: {local?: boolean; beforeWrite?: (incoming: ClusterConfig) => Promise<void>; derivedFrom?: ClusterConfig} = {}): Promise<ClusterConfig> {
    return this.serial(async () => {
      const candidate = {...(next as Record<string, unknown>)}
      delete candidate.baseRevision
      const valid = this.validate(candidate, opts.derivedFrom)
      check?.(valid, this.config)
      if (opts.local) await this.commitGate?.(valid, this.config)
      await opts.beforeWrite?.(valid)
      await this.persist(valid, ctx)
      return valid
    })
  }

  /** Writes a change the primary proposes to config/staged.json (durable, not in effect) — phase one of a commit. */
  stage(next: unknown, check: (incoming: ClusterConfig, current: ClusterConfig) => void, opts: {derivedFrom?: ClusterConfig} = {}): Promise<ClusterConfig> {
    return this.serial(async () => {
      const valid = this.validate({...(next as Record<string, unknown>)}, opts.derivedFrom)
      check(valid, this.config)
      this.stagedRef = undefined
      await writeFileAtomic(this.paths.staged, serializeConfig(valid))
      this.stagedRef = {epoch: valid.epoch, revision: valid.revision}
      return valid
    })
  }

  /** The staged change, if any and newer than the configuration in effect. */
  async staged(): Promise<ClusterConfig | null> {
    const c = await readConfigFile(this.paths.staged).catch(() => null)
    if (!c || c.clusterId !== this.config.clusterId || newerThan(this.config, c)) return null
    if (c.epoch === this.config.epoch && c.revision === this.config.revision) return null
    return c
  }

  /** Drops the staged change of `revision` (the primary could not commit it). */
  unstage(revision: number, epoch: number): Promise<boolean> {
    return this.serial(async () => {
      const c = await readConfigFile(this.paths.staged).catch(() => null)
      if (!c || c.revision !== revision || c.epoch !== epoch) return false
      await fs.rm(this.paths.staged, {force: true})
      this.stagedRef = null
      return true
    })
  }

  /** Keeps configurations a failover discarded, keyed by epoch and revision, in config/diverged/. */
  async keepDiverged(configs: ClusterConfig[]): Promise<string[]> {
    const dir = this.paths.diverged
    await fs.mkdir(dir, {recursive: true, mode: 0o700})
    const kept: string[] = []
    for (const c of configs) {
      const name = `${c.epoch}-${c.revision}.json`
      const file = path.join(dir, name)
      const exists = await fs.access(file).then(() => true, () => false)
      if (!exists) await writeFileAtomic(file, serializeConfig(c))
      kept.push(name)
    }
    return kept
  }

  /** Kept diverged configurations, newest first: {epoch, revision}. */
  async diverged(): Promise<{epoch: number; revision: number}[]> {
    const names = await fs.readdir(this.paths.diverged).catch(() => [] as string[])
    return names
      .map((n) => /^(\d+)-(\d+)\.json$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({epoch: Number(m[1]), revision: Number(m[2])}))
      .sort((a, b) => b.epoch - a.epoch || b.revision - a.revision)
  }

  async divergedEntry(epoch: number, revision: number): Promise<ClusterConfig> {
    try {
      return await readConfigFile(path.join(this.paths.diverged, `${epoch}-${revision}.json`))
    } catch {
      throw new OperationError('invalid', `no configuration of epoch ${epoch}, revision ${revision} was discarded by failover here`, 'list them with `cluster config history`')
    }
  }

  /** Revisions kept in history, newest first. */
  history(): Promise<number[]> {
    return listHistory(this.paths.history)
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

  /**
   * Validates a candidate; with `derivedFrom` (a validated configuration the candidate shares user objects
   * with), the users it shares are taken as they are and only the others are checked again.
   */
  private validate(candidate: unknown, derivedFrom?: ClusterConfig): ClusterConfig {
    try {
      const c = candidate as Record<string, unknown>
      if (!derivedFrom || !Array.isArray(c.users)) return validateConfig(candidate)
      const users = c.users as User[]
      const known = new Set<User>(derivedFrom.users)
      const at: number[] = []
      const changed = users.filter((u, i) => !known.has(u) && at.push(i) > 0)
      let valid: ClusterConfig
      try {
        valid = validateConfig({...c, users: changed})
      } catch (error) {
        // Name the entry as it is in the whole document, not in the part checked again.
        const m = error instanceof ConfigValidationError ? /^users\[(\d+)\](.*)$/.exec(error.field) : null
        if (m) throw new ConfigValidationError(`users[${at[Number(m[1])]}]${m[2]}`, (error as ConfigValidationError).message.slice(m[0].length + 2))
        throw error
      }
      let k = 0
      const all = users.map((u) => (known.has(u) ? u : valid.users[k++]))
      const names = new Set<string>()
      all.forEach((u, i) => {
        if (names.has(u.name)) throw new ConfigValidationError(`users[${i}].name`, `duplicate name "${u.name}"`)
        names.add(u.name)
      })
      return {...valid, users: all}
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
    await this.keepOverwritten(config)
    this.writing++
    try {
      // Two independent durable replacements (temp, fsync, rename, dir fsync) side by side: half the chain of fs
      // round trips each push waits for. current.json decides: once it is replaced the revision is in effect,
      // and a failed history copy only leaves that revision out of `config history`.
      this.writtenStat = null
      const [, current] = await Promise.allSettled([writeFileAtomic(path.join(p.history, `${config.revision}.json`), text), writeFileAtomic(p.current, text)])
      if (current.status === 'rejected') throw current.reason
      this.writtenStat = await fs.stat(p.current, {bigint: true}).then((st) => `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, () => null)
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      const hint = e.code === 'ENOSPC' ? 'free space on the disk holding the data directory' : 'check the data directory\'s permissions and disk'
      throw new OperationError('io', `cannot write the configuration (${e.code ?? e.message}); revision ${this.config.revision} is still in effect`, hint)
    } finally {
      this.writing--
    }
    const previous = this.config
    this.config = config
    this.configHash = contentHash(config)
    this.diskHash = this.configHash
    this.handEdit = null
    // The staged change this store wrote is known without reading it (20 MB with a large directory).
    const staged = this.stagedRef !== undefined ? this.stagedRef : await readConfigFile(p.staged).catch(() => null)
    if (staged && !newerThan(staged, config)) {
      await fs.rm(p.staged, {force: true}).catch(() => {})
      this.stagedRef = null
    } else if (staged === null) {
      this.stagedRef = null
    }
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

  /** A kept revision of the same number but another epoch or content moves to diverged/ instead of vanishing. */
  private async keepOverwritten(config: ClusterConfig): Promise<void> {
    const kept = await readConfigFile(path.join(this.paths.history, `${config.revision}.json`)).catch(() => null)
    if (!kept || contentHash(kept) === contentHash(config)) return
    if (kept.clusterId !== config.clusterId) return // history of a cluster this node left: join keeps a backup
    await this.keepDiverged([kept]).catch(() => {})
  }

  private async pruneHistory(): Promise<void> {
    const revisions = await this.history()
    await Promise.all(revisions.slice(HISTORY_LIMIT).map((r) => fs.rm(path.join(this.paths.history, `${r}.json`), {force: true})))
  }
}

async function listHistory(dir: string): Promise<number[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[])
  return names
    .map((n) => /^(\d+)\.json$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a)
}

/** True when `a` is a later configuration than `b`: a higher epoch, or the same epoch and a higher revision. */
export function newerThan(a: {epoch: number; revision: number}, b: {epoch: number; revision: number}): boolean {
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.revision > b.revision)
}
