// The versioned configuration store of a node: config/current.json written atomically, every revision kept
// in config/history/ (bounded), an audit trail in config/audit.log, one writer at a time. Nothing vanishes:
// a revision of another epoch never overwrites a kept one (it moves to config/diverged/ first), a change the
// primary proposed waits in config/staged.json, and a hand edit of current.json is detected, never served.
// A large document (a directory of many users) is not rewritten whole on every change: current.json is then
// a snapshot, each change since is a patch line in config/journal.log (journal.ts), and history keeps patches.
import {EventEmitter} from 'node:events'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {MAX_CONFIG_BYTES, OperationError} from '../protocol/index.js'
import {configHash as contentHash, configSize, configText} from './config-text.js'
import {removeStaleTemps, writeFileAtomic} from './atomic-file.js'
import {applyPatch, diffConfig, jsonEqual, markUniqueBy, noteParent, sharedEnds, type PatchOp} from './config-patch.js'
import {userByName} from './users.js'
import {appendRecord, asPatchRecord, clearJournal, readJournal, sameRef, type PatchRecord, type RevisionRef} from './journal.js'
import {ConfigValidationError, validateConfig, type ChangeRecord, type ClusterConfig, type User} from './schema.js'

export const HISTORY_LIMIT = 100
/** Documents from this size on are journaled (CLUSTER_CONFIG_JOURNAL_MIN_BYTES overrides it, for tests). */
const JOURNAL_MIN_BYTES = Number(process.env.CLUSTER_CONFIG_JOURNAL_MIN_BYTES ?? 1024 * 1024)
/** A snapshot is written instead of a journal line after this many lines, or this many bytes of them. */
const SNAPSHOT_EVERY = 100
export const SNAPSHOT_BYTES = 8 * 1024 * 1024

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
    journal: path.join(dir, 'journal.log'),
  }
}

/** The size rule: refuses a document no member would accept (the size of its one encoding); returns the size. */
export function checkConfigSize(config: ClusterConfig, limit = MAX_CONFIG_BYTES): number {
  const size = configSize(config)
  if (size > limit) {
    throw new OperationError('invalid', `the configuration would be ${size} bytes, more than the ${limit} bytes every member accepts (MAX_CONFIG_BYTES); the change was not made`, 'remove what is no longer needed (users, rules) or split the directory')
  }
  return size
}

/** The configuration's one encoding (files, history, pushes); refuses a document no member would accept. */
export function serializeConfig(config: ClusterConfig, limit = MAX_CONFIG_BYTES): string {
  checkConfigSize(config, limit)
  return configText(config)
}

const refOf = (c: ClusterConfig, hash = contentHash(c)): RevisionRef => ({epoch: c.epoch, revision: c.revision, hash})

/**
 * The patch from `base` to `next` when it is cheap to make: they share their user objects (a change made
 * here, a delta applied here). Null for documents that share nothing (a full push): those are snapshotted.
 */
function cheapPatch(base: ClusterConfig, next: ClusterConfig): PatchOp[] | null {
  const a = base.users
  const b = next.users
  if (a !== b && (a.length === 0 || b.length === 0 || (a[0] !== b[0] && a[a.length - 1] !== b[b.length - 1]))) return null
  try {
    return diffConfig(base, next)
  } catch {
    return null
  }
}

/** What config/staged.json holds: a full document, or a patch against the revision in effect (a large one). */
async function readStaged(file: string): Promise<{config: ClusterConfig} | {patch: PatchRecord} | null> {
  const text = await fs.readFile(file, 'utf8').catch(() => null)
  if (text === null) return null
  try {
    const raw = JSON.parse(text) as Record<string, unknown>
    const patch = asPatchRecord(raw.stagedPatch)
    if (patch) return {patch}
  } catch {
    return null
  }
  const config = await readConfigFile(file).catch(() => null)
  return config ? {config} : null
}

/** The epoch and revision a staged file is for, without making the document. */
async function stagedRefOf(file: string): Promise<{epoch: number; revision: number} | null> {
  const s = await readStaged(file)
  if (!s) return null
  return 'patch' in s ? {epoch: s.patch.target.epoch, revision: s.patch.target.revision} : {epoch: s.config.epoch, revision: s.config.revision}
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
  /** The hash of the document current.json should hold: the last snapshot (the configuration, unless journaled). */
  private snapshotHash: string
  /** Set while current.json differs from the configuration in effect. */
  handEdit: HandEdit | null = null
  /** Set by the sync engine on a primary; local changes pass it before they are written. */
  commitGate: CommitGate | undefined
  /** inode:size:mtime:ctime of current.json as this store last wrote it (a hand edit changes them). */
  private writtenStat: string | null = null
  /** What config/staged.json holds, when this store wrote or removed it (null: no file); undefined: not known. */
  private stagedRef: {epoch: number; revision: number} | null | undefined
  /** Lines and bytes in config/journal.log since the snapshot in current.json. */
  private journal = {lines: 0, bytes: 0, exists: false}
  /** Set at open when journal.log could not be replayed onto current.json; the file was moved aside. */
  journalProblem: string | null = null
  /** Configurations validate() made (frozen by convention): passed in again, they are not checked twice. */
  private readonly validated = new WeakSet<object>()
  /** The last change staged here (validated): committed next, it is taken as it is. */
  private lastStaged: ClusterConfig | null = null
  /** The highest revision in history, once looked up (undefined: not yet). */
  private topHistory: number | undefined
  /** History revisions rebuilt from patches, by revision (checked against the patch's target hash on use). */
  private readonly rebuilt = new Map<number, ClusterConfig>()

  private constructor(readonly dataDir: string, config: ClusterConfig, snapshotHash?: string) {
    super()
    this.config = config
    this.configHash = contentHash(config)
    this.diskHash = this.configHash
    this.snapshotHash = snapshotHash ?? this.configHash
  }

  /**
   * Opens the store: current.json, then the journal's changes since it. A current.json whose revision is kept
   * in history with other content was edited by hand: the recorded revision is served instead, and the edit
   * waits for the primary's repair (or an operator's rollback); `handEdit` says so.
   */
  static async open(dataDir: string): Promise<ConfigStore> {
    const p = configPaths(dataDir)
    await removeStaleTemps(p.dir)
    await removeStaleTemps(p.history)
    const file = await readConfigFile(p.current)
    const hash = contentHash(file)
    const kept = await listHistory(p.history)
    let recorded: ClusterConfig | undefined
    // Only the same revision with other content is an edit: history is written beside current.json, so a crash
    // can leave a newer current.json without its history copy (that revision was acknowledged: serve it).
    if (kept.includes(file.revision)) recorded = await readConfigFile(path.join(p.history, `${file.revision}.json`)).catch(() => undefined)
    const edited = recorded !== undefined && contentHash(recorded) !== hash
    const base = edited ? recorded! : file
    const {config, lines, problem} = replay(base, (await readJournal(p.journal)).records)
    const store = new ConfigStore(dataDir, config, contentHash(base))
    const st = await fs.stat(p.journal).catch(() => null)
    store.journal = {lines, bytes: lines > 0 ? Number(st?.size ?? 0) : 0, exists: st !== null}
    if (problem) {
      const aside = `${p.journal}.unused-${new Date().toISOString().replace(/[:.]/g, '-')}`
      await fs.rename(p.journal, aside).catch(() => {})
      store.journal = {lines: 0, bytes: 0, exists: false}
      store.journalProblem = `config/journal.log ${problem}; it was moved to ${path.basename(aside)} and revision ${config.revision} is served`
      // What the journal held of it is on disk only there now: write the served revision whole.
      if (lines > 0) await store.serial(() => store.persistSnapshot(config))
    }
    if (edited) {
      store.diskHash = hash
      store.handEdit = {fileHash: hash, fileRevision: file.revision, detectedAt: new Date().toISOString(), config: file}
    } else {
      store.writtenStat = await fs.stat(p.current, {bigint: true}).then((s) => `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, () => null)
    }
    return store
  }

  /** The configuration as a node would start with it: current.json and the journal (reads only). */
  static async readOnDisk(dataDir: string): Promise<ClusterConfig> {
    const p = configPaths(dataDir)
    return replay(await readConfigFile(p.current), (await readJournal(p.journal)).records).config
  }

  /** The hash of current.json on disk, read again now; flags (or clears) a hand edit. */
  async refreshDiskHash(): Promise<string> {
    if (this.writing > 0) return this.diskHash // a write in progress replaces the file: what it reads is no edit
    // The file this store wrote, untouched since (same inode, size, change time): no need to read 20 MB again.
    const seen = await fs.stat(this.paths.current, {bigint: true}).then((st) => `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, () => null)
    if (seen !== null && seen === this.writtenStat && this.writing === 0) return this.diskHash
    const hash = await fileHash(this.paths.current)
    if (this.writing > 0) return this.diskHash
    if (hash === this.snapshotHash) {
      this.handEdit = null
      this.diskHash = this.configHash
      this.writtenStat = seen
      return this.diskHash
    }
    if (!this.handEdit || this.handEdit.fileHash !== hash) {
      const file = await readConfigFile(this.paths.current).catch(() => undefined)
      this.handEdit = {fileHash: hash, fileRevision: file?.revision ?? null, detectedAt: new Date().toISOString(), config: file ?? null}
      this.emit('hand-edit', this.handEdit)
    }
    this.diskHash = hash
    return hash
  }

  /** The last known hash of the configuration on disk (current.json and the journal). */
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
    await store.persist(valid, change, true)
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
      let valid: ClusterConfig
      if (this.validated.has(next as object)) {
        valid = next as ClusterConfig
      } else {
        const candidate = {...(next as Record<string, unknown>)}
        delete candidate.baseRevision
        valid = this.validate(candidate, opts.derivedFrom)
      }
      check?.(valid, this.config)
      if (opts.local) await this.commitGate?.(valid, this.config)
      await opts.beforeWrite?.(valid)
      await this.persist(valid, ctx)
      return valid
    })
  }

  /**
   * Writes a change the primary proposes to config/staged.json (durable, not in effect) — phase one of a commit.
   * A large document made from the revision in effect is staged as the patch from it.
   */
  stage(next: unknown, check: (incoming: ClusterConfig, current: ClusterConfig) => void, opts: {derivedFrom?: ClusterConfig} = {}): Promise<ClusterConfig> {
    return this.serial(async () => {
      const valid = this.validate({...(next as Record<string, unknown>)}, opts.derivedFrom)
      check(valid, this.config)
      this.stagedRef = undefined
      const size = checkConfigSize(valid)
      const ops = size >= JOURNAL_MIN_BYTES && opts.derivedFrom === this.config ? cheapPatch(this.config, valid) : null
      const record: PatchRecord | null = ops ? {v: 1, base: refOf(this.config, this.configHash), target: refOf(valid), ops} : null
      await writeFileAtomic(this.paths.staged, record ? JSON.stringify({stagedPatch: record}) + '\n' : configText(valid))
      this.stagedRef = {epoch: valid.epoch, revision: valid.revision}
      this.lastStaged = valid
      return valid
    })
  }

  /** The change staged here last, when it is the document `target` names (its commit needs no rebuilding). */
  stagedDocument(target: RevisionRef): ClusterConfig | null {
    const c = this.lastStaged
    return c && c.epoch === target.epoch && c.revision === target.revision && contentHash(c) === target.hash ? c : null
  }

  /** The staged change, if any and newer than the configuration in effect. */
  async staged(): Promise<ClusterConfig | null> {
    const s = await readStaged(this.paths.staged)
    if (!s) return null
    let c: ClusterConfig
    if ('patch' in s) {
      if (!sameRef(s.patch.base, refOf(this.config, this.configHash))) return null
      try {
        c = applyPatch(this.config, s.patch.ops)
      } catch {
        return null
      }
      if (contentHash(c) !== s.patch.target.hash) return null
    } else {
      c = s.config
    }
    if (c.clusterId !== this.config.clusterId || newerThan(this.config, c)) return null
    if (c.epoch === this.config.epoch && c.revision === this.config.revision) return null
    return c
  }

  /** Drops the staged change of `revision` (the primary could not commit it). */
  unstage(revision: number, epoch: number): Promise<boolean> {
    return this.serial(async () => {
      const c = await stagedRefOf(this.paths.staged)
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
  async history(): Promise<number[]> {
    await this.historyWork
    return (await listHistory(this.paths.history)).slice(0, HISTORY_LIMIT)
  }

  /** A kept revision: its full copy, or rebuilt from the revision its patch was made against. */
  async historyEntry(revision: number, depth = 0): Promise<ClusterConfig> {
    if (depth === 0) await this.historyWork
    const full = path.join(this.paths.history, `${revision}.json`)
    try {
      return await readConfigFile(full)
    } catch (error) {
      if (!(error instanceof ConfigFileError && error.message.endsWith('missing'))) throw error
    }
    const patchFile = path.join(this.paths.history, `${revision}.patch.json`)
    const text = await fs.readFile(patchFile, 'utf8').catch(() => null)
    if (text === null) throw new OperationError('invalid', `revision ${revision} is not in the history`, 'list kept revisions with `cluster config history`')
    let rec: PatchRecord | null = null
    try {
      rec = asPatchRecord(JSON.parse(text))
    } catch {
      rec = null
    }
    if (!rec) throw new ConfigFileError(patchFile, 'is not a change record')
    const cached = this.rebuilt.get(revision)
    if (cached && contentHash(cached) === rec.target.hash) return cached
    if (depth > 2 * HISTORY_LIMIT || rec.base.revision >= revision) throw new ConfigFileError(patchFile, `cannot be rebuilt (its base revision ${rec.base.revision} is not before it)`)
    const base = await this.historyEntry(rec.base.revision, depth + 1)
    if (!sameRef(refOf(base), rec.base)) throw new ConfigFileError(patchFile, `cannot be rebuilt: the kept revision ${rec.base.revision} is not the one it was made from`)
    const doc = applyPatch(base, rec.ops)
    if (contentHash(doc) !== rec.target.hash) throw new ConfigFileError(patchFile, 'cannot be rebuilt: the result differs from the recorded hash')
    this.rebuilt.set(revision, doc)
    if (this.rebuilt.size > 2 * HISTORY_LIMIT) this.rebuilt.delete(this.rebuilt.keys().next().value!)
    return doc
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
      if (!derivedFrom || !Array.isArray(c.users)) {
        const valid = validateConfig(candidate)
        markUniqueBy(valid.users, 'name') // validateConfig refuses duplicate names
        this.validated.add(valid)
        return valid
      }
      const users = c.users as User[]
      const base = derivedFrom.users
      // Shared: the common prefix and suffix (the same objects), and in between whatever the base had there.
      const {p, s} = sharedEnds(base, users)
      const known = new Set<User>(base.slice(p, base.length - s))
      const at: number[] = []
      for (let i = p; i < users.length - s; i++) if (!known.has(users[i])) at.push(i)
      const changed = at.map((i) => users[i])
      let valid: ClusterConfig
      try {
        valid = validateConfig({...c, users: changed})
      } catch (error) {
        // Name the entry as it is in the whole document, not in the part checked again.
        const m = error instanceof ConfigValidationError ? /^users\[(\d+)\](.*)$/.exec(error.field) : null
        if (m) throw new ConfigValidationError(`users[${at[Number(m[1])]}]${m[2]}`, (error as ConfigValidationError).message.slice(m[0].length + 2))
        throw error
      }
      // The checked copies replace the entries only where validation changed something (defaults filled in).
      let all = users
      at.forEach((i, k) => {
        if (jsonEqual(valid.users[k], users[i])) return
        if (all === users) all = users.slice()
        all[i] = valid.users[k]
      })
      noteParent(all, users)
      // Names: the shared users are unique among themselves (the base is valid); each checked one must be
      // unique among all: not the name of another checked one, nor of a base entry still in the array.
      const kept = new Set<User>()
      for (let i = p; i < users.length - s; i++) if (known.has(users[i])) kept.add(users[i])
      const seen = new Map<string, number>()
      for (const i of at) {
        const name = all[i].name
        const other = seen.get(name) ?? (() => {
          const x = userByName(base, name)
          return x && (!known.has(x) || kept.has(x)) ? all.indexOf(x) : undefined
        })()
        if (other !== undefined) throw new ConfigValidationError(`users[${Math.max(i, other)}].name`, `duplicate name "${name}"`)
        seen.set(name, i)
      }
      markUniqueBy(all, 'name')
      const out = {...valid, users: all}
      this.validated.add(out)
      return out
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

  /**
   * Makes `config` the revision in effect, durably: a large document that shares its users with the one in
   * effect is one journal line (the patch) and a patch in history; anything else, or every SNAPSHOT_EVERY lines,
   * is a snapshot: current.json and a full history copy, each replaced atomically, and the journal emptied.
   */
  private async persist(config: ClusterConfig, ctx: ChangeContext, snapshot = false): Promise<void> {
    const p = this.paths
    const size = checkConfigSize(config)
    await this.keepOverwritten(config)
    const hash = contentHash(config)
    const journalable = !snapshot && size >= JOURNAL_MIN_BYTES && !this.handEdit && this.journal.lines < SNAPSHOT_EVERY && this.journal.bytes < SNAPSHOT_BYTES
    const ops = journalable ? cheapPatch(this.config, config) : null
    const line = ops ? JSON.stringify({v: 1, base: refOf(this.config, this.configHash), target: refOf(config, hash), ops} satisfies PatchRecord) : null
    const wrote: string[] = []
    this.writing++
    try {
      if (line !== null && ops!.length > 0 && line.length < Math.max(size / 4, 64 * 1024)) {
        // The journal line decides; the history patch is written after the change is acknowledged (a failed or
        // lost one only leaves that revision out of `config history`).
        const appended = await appendRecord(p.journal, line, !this.journal.exists)
        this.journal = {lines: this.journal.lines + 1, bytes: this.journal.bytes + appended, exists: true}
        const revision = config.revision
        this.afterAck(async () => {
          await fs.rm(path.join(p.history, `${revision}.json`), {force: true})
          await writeFileAtomic(path.join(p.history, `${revision}.patch.json`), line + '\n')
        })
      } else {
        wrote.push(path.join(p.history, `${config.revision}.json`))
        await this.writeSnapshot(config, hash)
        await fs.rm(path.join(p.history, `${config.revision}.patch.json`), {force: true}).catch(() => {})
      }
    } catch (error) {
      await Promise.all(wrote.map((f) => fs.rm(f, {force: true}).catch(() => {}))) // no history of a revision never in effect
      const e = error as NodeJS.ErrnoException
      const hint = e.code === 'ENOSPC' ? 'free space on the disk holding the data directory' : 'check the data directory\'s permissions and disk'
      throw new OperationError('io', `cannot write the configuration (${e.code ?? e.message}); revision ${this.config.revision} is still in effect`, hint)
    } finally {
      this.writing--
    }
    const previous = this.config
    this.config = config
    this.configHash = hash
    this.diskHash = this.configHash
    this.handEdit = null
    // The staged change this store wrote is known without reading it (20 MB with a large directory).
    const staged = this.stagedRef !== undefined ? this.stagedRef : await stagedRefOf(p.staged)
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
    await fs.appendFile(p.audit, JSON.stringify(record) + '\n', {mode: 0o600}).catch(() => {})
    this.afterAck(() => this.pruneHistory())
    this.emit('change', config, previous)
    // a change is acknowledged only once every process serving clients runs it
    await Promise.all(this.appliers.map((apply) => apply(config).catch(() => {})))
  }

  /** History work that need not delay an acknowledgement, in order; readers of history wait for it. */
  private historyWork: Promise<void> = Promise.resolve()

  private afterAck(task: () => Promise<void>): void {
    this.historyWork = this.historyWork.then(task).catch(() => {})
  }

  /** current.json and history/N.json replaced side by side, then the journal emptied (its lines are in the snapshot). */
  private async writeSnapshot(config: ClusterConfig, hash: string): Promise<void> {
    const p = this.paths
    const text = configText(config)
    // Two independent durable replacements (temp, fsync, rename, dir fsync) side by side: half the chain of fs
    // round trips each push waits for. current.json decides: once it is replaced the revision is in effect,
    // and a failed history copy only leaves that revision out of `config history`.
    this.writtenStat = null
    const [, current] = await Promise.allSettled([writeFileAtomic(path.join(p.history, `${config.revision}.json`), text), writeFileAtomic(p.current, text)])
    if (current.status === 'rejected') throw current.reason
    this.snapshotHash = hash
    this.writtenStat = await fs.stat(p.current, {bigint: true}).then((st) => `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, () => null)
    // A crash before this leaves lines the snapshot already holds: opening skips them.
    if (this.journal.bytes > 0 || this.journal.lines > 0) await clearJournal(p.journal)
    this.journal = {lines: 0, bytes: 0, exists: this.journal.exists}
  }

  /** The configuration in effect written whole (after a journal could not be replayed). */
  private async persistSnapshot(config: ClusterConfig): Promise<void> {
    this.writing++
    try {
      await this.writeSnapshot(config, this.configHash)
    } finally {
      this.writing--
    }
  }

  /** A kept revision of the same number but another epoch or content moves to diverged/ instead of vanishing. */
  private async keepOverwritten(config: ClusterConfig): Promise<void> {
    await this.historyWork
    // A revision above every kept one (the usual case) overwrites nothing: no need to look.
    this.topHistory ??= (await listHistory(this.paths.history))[0] ?? -1
    if (config.revision > this.topHistory) {
      this.topHistory = config.revision
      return
    }
    const names = [`${config.revision}.json`, `${config.revision}.patch.json`].map((n) => path.join(this.paths.history, n))
    const present = await Promise.all(names.map((f) => fs.access(f).then(() => true, () => false)))
    if (!present.some(Boolean)) return
    const kept = await this.historyEntry(config.revision).catch(() => null)
    if (!kept || contentHash(kept) === contentHash(config)) return
    if (kept.clusterId !== config.clusterId) return // history of a cluster this node left: join keeps a backup
    await this.keepDiverged([kept]).catch(() => {})
  }

  /** Keeps the newest HISTORY_LIMIT revisions, and from the full copy the oldest kept patches are rebuilt from. */
  private async pruneHistory(): Promise<void> {
    const dir = this.paths.history
    const names = await fs.readdir(dir).catch(() => [] as string[])
    const files = names.flatMap((n) => {
      const m = /^(\d+)\.(json|patch\.json)$/.exec(n)
      return m ? [{name: n, revision: Number(m[1]), full: m[2] === 'json'}] : []
    })
    const revisions = [...new Set(files.map((f) => f.revision))].sort((a, b) => b - a)
    if (revisions.length <= HISTORY_LIMIT) return
    const oldest = revisions[HISTORY_LIMIT - 1]
    const anchor = Math.max(-1, ...files.filter((f) => f.full && f.revision <= oldest).map((f) => f.revision))
    // Patches from the anchor on stay (hidden beyond the limit): the kept ones are rebuilt through them.
    const keepFrom = files.some((f) => !f.full && f.revision >= oldest) && anchor >= 0 ? anchor : oldest
    await Promise.all(files.filter((f) => f.revision < keepFrom).map((f) => fs.rm(path.join(dir, f.name), {force: true})))
  }
}

/** `base` with the journal's records applied in order; records the base already holds are skipped. */
function replay(base: ClusterConfig, records: PatchRecord[]): {config: ClusterConfig; lines: number; problem: string | null} {
  let config = base
  let lines = 0
  for (const [i, rec] of records.entries()) {
    if (!newerThan(rec.target, config)) continue // already in the snapshot (a crash before the journal was emptied)
    if (!sameRef(rec.base, refOf(config))) return {config, lines, problem: `line ${i + 1} (revision ${rec.target.revision}) does not follow revision ${config.revision} of current.json`}
    let next: ClusterConfig
    try {
      next = applyPatch(config, rec.ops)
    } catch (error) {
      return {config, lines, problem: `line ${i + 1} does not apply (${(error as Error).message})`}
    }
    if (contentHash(next) !== rec.target.hash || next.revision !== rec.target.revision || next.epoch !== rec.target.epoch) {
      return {config, lines, problem: `line ${i + 1} gives another document than the one recorded`}
    }
    config = next
    lines++
  }
  return {config, lines, problem: null}
}

async function listHistory(dir: string): Promise<number[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[])
  const revisions = names
    .map((n) => /^(\d+)\.(?:json|patch\.json)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
  return [...new Set(revisions)].sort((a, b) => b - a)
}

/** True when `a` is a later configuration than `b`: a higher epoch, or the same epoch and a higher revision. */
export function newerThan(a: {epoch: number; revision: number}, b: {epoch: number; revision: number}): boolean {
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.revision > b.revision)
}
