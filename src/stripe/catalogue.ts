// The gateway's durable catalogue of the virtual tree (stripe.md): one SQLite database (better-sqlite3) in WAL
// mode with synchronous=FULL, so a method that changes it returns only once the change is on disk and a kill -9
// loses no acknowledged upload. Memory stays bounded (SQLite pages, not a Map of every entry), so a million
// entries cost what the page cache is allowed, and the nodes' inventories can rebuild it (rescan).
import {mkdirSync} from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import type {Catalogue, CatalogueEntry} from './contract.js'

/** A refused catalogue change, with a code the gateway maps to its protocol's reply (like fs errors). */
export class CatalogueError extends Error {
  constructor(readonly code: 'ENOENT' | 'EEXIST' | 'ENOTEMPTY' | 'ENOTDIR' | 'EISDIR' | 'EINVAL', message: string) {
    super(message)
    this.name = 'CatalogueError'
  }
}

/** Generations are reserved durably in blocks, so handing one out costs no fsync and never repeats after a crash. */
const GENERATION_BLOCK = 1024

interface Row {
  path: string
  type: number
  size: number
  mtime: number
  owner: string
  sha256: string | null
  nodes: string
  generation: number
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  path TEXT PRIMARY KEY,
  parent TEXT NOT NULL,
  type INTEGER NOT NULL,            -- 0 file, 1 dir
  size INTEGER NOT NULL,
  mtime INTEGER NOT NULL,
  owner TEXT NOT NULL,
  sha256 TEXT,
  nodes TEXT NOT NULL,              -- node ids, comma-separated (copies has one row each)
  generation INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_parent ON entries(parent, path);
CREATE TABLE IF NOT EXISTS copies (
  node TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (node, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS copies_by_path ON copies(path);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_stats (node TEXT PRIMARY KEY, files INTEGER NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES ('generation', 0), ('files', 0), ('dirs', 0), ('bytes', 0);
CREATE TRIGGER IF NOT EXISTS copies_in AFTER INSERT ON copies BEGIN
  INSERT INTO node_stats VALUES (NEW.node, 1, NEW.size)
    ON CONFLICT(node) DO UPDATE SET files = files + 1, bytes = bytes + NEW.size;
END;
CREATE TRIGGER IF NOT EXISTS copies_out AFTER DELETE ON copies BEGIN
  UPDATE node_stats SET files = files - 1, bytes = bytes - OLD.size WHERE node = OLD.node;
END;
CREATE TRIGGER IF NOT EXISTS entries_in AFTER INSERT ON entries BEGIN
  UPDATE meta SET value = value + 1 WHERE key = CASE NEW.type WHEN 0 THEN 'files' ELSE 'dirs' END;
  UPDATE meta SET value = value + NEW.size WHERE key = 'bytes' AND NEW.type = 0;
END;
CREATE TRIGGER IF NOT EXISTS entries_out AFTER DELETE ON entries BEGIN
  UPDATE meta SET value = value - 1 WHERE key = CASE OLD.type WHEN 0 THEN 'files' ELSE 'dirs' END;
  UPDATE meta SET value = value - OLD.size WHERE key = 'bytes' AND OLD.type = 0;
END;
`

/** Checks a virtual path: absolute, no empty, `.` or `..` components, no trailing slash (the gateway resolves). */
export function checkPath(p: string): string {
  if (p === '/') return p
  const parts = p.split('/')
  if (parts[0] !== '' || parts.slice(1).some((x) => x === '' || x === '.' || x === '..') || p.includes('\0')) {
    throw new CatalogueError('EINVAL', `${JSON.stringify(p)} is not a normalised absolute virtual path`)
  }
  return p
}

const parentOf = (p: string): string => path.posix.dirname(p)
/** Exclusive upper bound of the paths under `dir/` in byte order: '/' is 0x2f and '0' (0x30) follows it. */
const subtreeEnd = (dir: string): string => `${dir}0`

/** Opens (creating) `<dir>/catalogue.db`; `file` may be ':memory:' for unit tests of callers. */
export function openCatalogue(file: string): SqliteCatalogue {
  if (file !== ':memory:') mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  return new SqliteCatalogue(file)
}

export class SqliteCatalogue implements Catalogue {
  private readonly db: Database.Database
  private generation: number
  private reservedUpTo: number
  private readonly q

  constructor(readonly file: string) {
    this.db = new Database(file)
    this.db.pragma('journal_mode = WAL')
    // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss, not only kill -9
    this.db.pragma('synchronous = FULL')
    this.db.pragma('foreign_keys = OFF')
    this.db.pragma('cache_size = -16384') // 16 MiB of pages: memory stays bounded at any catalogue size
    this.db.exec(SCHEMA)
    const db = this.db
    this.q = {
      get: db.prepare<[string], Row>('SELECT path, type, size, mtime, owner, sha256, nodes, generation FROM entries WHERE path = ?'),
      // rows as arrays: better-sqlite3 builds a keyed object per row otherwise, half the time of a 10k LIST
      list: db.prepare<[string, number], RawRow>('SELECT path, type, size, mtime, owner, sha256, nodes, generation FROM entries WHERE parent = ? ORDER BY path LIMIT ?').raw(true),
      hasChild: db.prepare<[string], {one: number}>('SELECT 1 AS one FROM entries WHERE parent = ? LIMIT 1'),
      insert: db.prepare('INSERT INTO entries (path, parent, type, size, mtime, owner, sha256, nodes, generation) VALUES (@path, @parent, @type, @size, @mtime, @owner, @sha256, @nodes, @generation)'),
      delete: db.prepare<[string]>('DELETE FROM entries WHERE path = ?'),
      deleteCopies: db.prepare<[string]>('DELETE FROM copies WHERE path = ?'),
      addCopy: db.prepare<[string, string, number]>('INSERT OR IGNORE INTO copies (node, path, size) VALUES (?, ?, ?)'),
      setMtime: db.prepare<[number, number, string]>('UPDATE entries SET mtime = ?, generation = ? WHERE path = ?'),
      setNodes: db.prepare<[string, number, string]>('UPDATE entries SET nodes = ?, generation = ? WHERE path = ?'),
      subtree: db.prepare<[string, string, string], Row>('SELECT path, type, size, mtime, owner, sha256, nodes, generation FROM entries WHERE path = ? OR (path > ? AND path < ?) ORDER BY path'),
      filesOn: db.prepare<[string, string, number], Row>('SELECT e.path, e.type, e.size, e.mtime, e.owner, e.sha256, e.nodes, e.generation FROM copies c JOIN entries e ON e.path = c.path WHERE c.node = ? AND c.path > ? ORDER BY c.path LIMIT ?'),
      files: db.prepare<[string, number], Row>('SELECT path, type, size, mtime, owner, sha256, nodes, generation FROM entries WHERE type = 0 AND path > ? ORDER BY path LIMIT ?'),
      meta: db.prepare<[string], {value: number}>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare<[number, string]>('UPDATE meta SET value = ? WHERE key = ?'),
      maxGeneration: db.prepare<[], {g: number | null}>('SELECT max(generation) AS g FROM entries'),
      nodeStats: db.prepare<[], {node: string; files: number; bytes: number}>('SELECT node, files, bytes FROM node_stats WHERE files > 0'),
    }
    const stored = Math.max(this.q.meta.get('generation')!.value, this.q.maxGeneration.get()!.g ?? 0)
    this.generation = stored
    this.reservedUpTo = stored
  }

  get(p: string): CatalogueEntry | undefined {
    if (checkPath(p) === '/') return this.rootEntry()
    const r = this.q.get.get(p)
    return r ? toEntry(r) : undefined
  }

  list(dir: string, limit = -1): CatalogueEntry[] {
    const d = this.get(dir)
    if (!d) throw new CatalogueError('ENOENT', `${dir}: no such directory`)
    if (d.type !== 'dir') throw new CatalogueError('ENOTDIR', `${dir}: not a directory`)
    return this.q.list.all(dir, limit).map(rawEntry)
  }

  putFile(entry: Omit<CatalogueEntry, 'type' | 'generation'> & {generation?: number}): CatalogueEntry {
    checkPath(entry.path)
    if (entry.path === '/') throw new CatalogueError('EISDIR', '/ is the root directory')
    return this.db.transaction(() => {
      const old = this.q.get.get(entry.path)
      if (old?.type === 1) throw new CatalogueError('EISDIR', `${entry.path}: is a directory`)
      this.parents(parentOf(entry.path), entry.owner, entry.mtimeMs)
      if (old) {
        this.q.deleteCopies.run(entry.path)
        this.q.delete.run(entry.path)
      }
      const e: CatalogueEntry = {...entry, type: 'file', nodes: unique(entry.nodes), generation: entry.generation ?? this.nextGeneration()}
      this.insertRow(e)
      return e
    }).immediate()
  }

  mkdir(p: string, owner: string, mtimeMs = Date.now()): CatalogueEntry {
    checkPath(p)
    return this.db.transaction(() => {
      const old = this.get(p)
      if (old?.type === 'dir') return old
      if (old) throw new CatalogueError('EEXIST', `${p}: a file of that name exists`)
      this.parents(parentOf(p), owner, mtimeMs)
      const e: CatalogueEntry = {path: p, type: 'dir', size: 0, mtimeMs, owner, sha256: null, nodes: [], generation: this.nextGeneration()}
      this.insertRow(e)
      return e
    }).immediate()
  }

  remove(p: string): void {
    if (checkPath(p) === '/') throw new CatalogueError('EINVAL', 'the root directory cannot be removed')
    this.db.transaction(() => {
      const old = this.q.get.get(p)
      if (!old) return
      if (old.type === 1 && this.q.hasChild.get(p)) throw new CatalogueError('ENOTEMPTY', `${p}: directory not empty`)
      this.q.deleteCopies.run(p)
      this.q.delete.run(p)
    }).immediate()
  }

  rename(from: string, to: string): void {
    checkPath(from)
    checkPath(to)
    if (from === '/' || to === '/') throw new CatalogueError('EINVAL', 'the root directory cannot be renamed')
    if (from === to) return
    if (to.startsWith(`${from}/`)) throw new CatalogueError('EINVAL', `${to} is inside ${from}`)
    this.db.transaction(() => {
      const moved = this.q.subtree.all(from, `${from}/`, subtreeEnd(from))
      if (moved.length === 0) throw new CatalogueError('ENOENT', `${from}: no such file or directory`)
      const target = this.q.get.get(to)
      if (target) throw new CatalogueError('EEXIST', `${to}: already exists (remove it first)`)
      this.parents(parentOf(to), moved[0].owner, Date.now())
      const generation = this.nextGeneration()
      for (const r of moved) {
        this.q.deleteCopies.run(r.path)
        this.q.delete.run(r.path)
      }
      for (const r of moved) this.insertRow({...toEntry(r), path: to + r.path.slice(from.length), generation})
    }).immediate()
  }

  setMtime(p: string, mtimeMs: number): void {
    checkPath(p)
    const r = this.q.setMtime.run(mtimeMs, this.nextGeneration(), p)
    if (r.changes === 0) throw new CatalogueError('ENOENT', `${p}: no such file or directory`)
  }

  setNodes(p: string, nodes: string[]): void {
    checkPath(p)
    this.db.transaction(() => {
      const old = this.q.get.get(p)
      if (!old || old.type !== 0) throw new CatalogueError('ENOENT', `${p}: no such file`)
      const list = unique(nodes)
      this.q.setNodes.run(list.join(','), old.generation, p)
      this.q.deleteCopies.run(p)
      for (const n of list) this.q.addCopy.run(n, p, old.size)
    }).immediate()
  }

  nextGeneration(): number {
    this.generation += 1
    if (this.generation > this.reservedUpTo) {
      this.reservedUpTo = this.generation + GENERATION_BLOCK
      this.q.setMeta.run(this.reservedUpTo, 'generation')
    }
    return this.generation
  }

  /** The highest generation handed out so far (remerge: pieces above it were written after its snapshot). */
  currentGeneration(): number {
    return this.generation
  }

  /** Raises the generation counter to at least `g` (rescan: pieces written by an earlier gateway). */
  advanceGeneration(g: number): void {
    while (this.generation < g) this.generation = Math.min(g, this.generation + GENERATION_BLOCK)
    if (this.generation > this.reservedUpTo) {
      this.reservedUpTo = this.generation + GENERATION_BLOCK
      this.q.setMeta.run(this.reservedUpTo, 'generation')
    }
  }

  filesOn(nodeId: string, afterPath = '', limit = 1000): CatalogueEntry[] {
    return this.q.filesOn.all(nodeId, afterPath, limit).map(toEntry)
  }

  /** Every file in path order, paged (verify, remerge). */
  files(afterPath = '', limit = 1000): CatalogueEntry[] {
    return this.q.files.all(afterPath, limit).map(toEntry)
  }

  underReplicated(replicas: number, liveNodes: string[], limit = 1000, afterPath = ''): CatalogueEntry[] {
    const live = new Set(liveNodes)
    const out: CatalogueEntry[] = []
    // a paged scan: a million entries are walked in bounded memory, and maintenance pages on with afterPath
    for (let after = afterPath; out.length < limit; ) {
      const page = this.files(after, 2000)
      if (page.length === 0) break
      for (const e of page) if (e.nodes.filter((n) => live.has(n)).length < replicas && out.push(e) >= limit) break
      after = page[page.length - 1].path
    }
    return out
  }

  /** How many files have fewer than `replicas` copies among `liveNodes` (status), without holding them. */
  countUnderReplicated(replicas: number, liveNodes: string[]): number {
    const live = new Set(liveNodes)
    let n = 0
    for (let page = this.files('', 5000); page.length; page = this.files(page[page.length - 1].path, 5000)) {
      for (const e of page) if (e.nodes.filter((x) => live.has(x)).length < replicas) n += 1
    }
    return n
  }

  stats(): {files: number; dirs: number; bytes: number; perNode: Map<string, {files: number; bytes: number}>} {
    const perNode = new Map(this.q.nodeStats.all().map((r) => [r.node, {files: r.files, bytes: r.bytes}] as const))
    return {files: this.q.meta.get('files')!.value, dirs: this.q.meta.get('dirs')!.value, bytes: this.q.meta.get('bytes')!.value, perNode}
  }

  /** Starts recording which pieces a node reported (rescan, remerge): a temporary table, not process memory. */
  beginSeen(): void {
    this.db.exec('CREATE TEMP TABLE IF NOT EXISTS seen (node TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (node, path)) WITHOUT ROWID; DELETE FROM seen;')
  }

  markSeen(nodeId: string, paths: string[]): void {
    const st = this.db.prepare<[string, string]>('INSERT OR IGNORE INTO seen (node, path) VALUES (?, ?)')
    this.db.transaction(() => {
      for (const p of paths) st.run(nodeId, p)
    })()
  }

  /** Files the catalogue places on `nodeId` that its inventory did not report (the copy is gone), paged. */
  unseenOn(nodeId: string, afterPath = '', limit = 1000): string[] {
    return this.db
      .prepare<[string, string, string, number], {path: string}>('SELECT c.path FROM copies c WHERE c.node = ? AND c.path > ? AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.node = ? AND s.path = c.path) ORDER BY c.path LIMIT ?')
      .all(nodeId, afterPath, nodeId, limit)
      .map((r) => r.path)
  }

  /** Runs `fn` as one durable transaction (rescan's bulk load: one fsync, not one per entry). */
  batch<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }

  /** Empties the catalogue (rescan rebuilds it from the nodes); the generation counter only grows. */
  clear(): void {
    this.db.transaction(() => {
      this.db.exec("DELETE FROM copies; DELETE FROM entries; DELETE FROM node_stats; UPDATE meta SET value = 0 WHERE key IN ('files', 'dirs', 'bytes');")
    }).immediate()
  }

  close(): void {
    if (this.db.open) this.db.close()
  }

  private rootEntry(): CatalogueEntry {
    return {path: '/', type: 'dir', size: 0, mtimeMs: 0, owner: '', sha256: null, nodes: [], generation: 0}
  }

  /** Creates the missing directories down to `dir` (putFile, mkdir -p); a file in the way refuses. */
  private parents(dir: string, owner: string, mtimeMs: number): void {
    if (dir === '/') return
    const r = this.q.get.get(dir)
    if (r?.type === 1) return
    if (r) throw new CatalogueError('ENOTDIR', `${dir}: is a file, not a directory`)
    this.parents(parentOf(dir), owner, mtimeMs)
    this.insertRow({path: dir, type: 'dir', size: 0, mtimeMs, owner, sha256: null, nodes: [], generation: this.nextGeneration()})
  }

  private insertRow(e: CatalogueEntry): void {
    this.q.insert.run({path: e.path, parent: parentOf(e.path), type: e.type === 'file' ? 0 : 1, size: e.size, mtime: Math.round(e.mtimeMs), owner: e.owner, sha256: e.sha256, nodes: e.nodes.join(','), generation: e.generation})
    for (const n of e.nodes) this.q.addCopy.run(n, e.path, e.size)
  }
}

/** A row of the `list` query, in its column order. */
type RawRow = [path: string, type: number, size: number, mtime: number, owner: string, sha256: string | null, nodes: string, generation: number]

function rawEntry(r: RawRow): CatalogueEntry {
  return {path: r[0], type: r[1] === 0 ? 'file' : 'dir', size: r[2], mtimeMs: r[3], owner: r[4], sha256: r[5], nodes: r[6] === '' ? [] : r[6].split(','), generation: r[7]}
}

function toEntry(r: Row): CatalogueEntry {
  return {path: r.path, type: r.type === 0 ? 'file' : 'dir', size: r.size, mtimeMs: r.mtime, owner: r.owner, sha256: r.sha256, nodes: r.nodes === '' ? [] : r.nodes.split(','), generation: r.generation}
}

const unique = (xs: string[]): string[] => [...new Set(xs)]
