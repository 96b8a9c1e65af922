// An in-memory Catalogue (the contract's semantics, no durability): the unit tests' double for the
// gateway's verbs. The gateway itself opens the durable catalogue (catalogue.ts).
import path from 'node:path'
import type {Catalogue, CatalogueEntry} from './contract.js'

export class MemoryCatalogue implements Catalogue {
  private readonly entries = new Map<string, CatalogueEntry>()
  private generation = 0

  constructor() {
    this.entries.set('/', {path: '/', type: 'dir', size: 0, mtimeMs: Date.now(), owner: '', sha256: null, nodes: [], generation: 0})
  }

  get(p: string): CatalogueEntry | undefined {
    const e = this.entries.get(p)
    return e ? {...e, nodes: [...e.nodes]} : undefined
  }

  list(dir: string, limit?: number): CatalogueEntry[] {
    const prefix = dir === '/' ? '/' : dir + '/'
    const out = [...this.entries.values()].filter((e) => e.path !== '/' && e.path.startsWith(prefix) && !e.path.slice(prefix.length).includes('/'))
    out.sort((a, b) => (a.path < b.path ? -1 : 1))
    return (limit === undefined ? out : out.slice(0, limit)).map((e) => ({...e, nodes: [...e.nodes]}))
  }

  private parents(p: string, owner: string): void {
    const dir = path.posix.dirname(p)
    if (dir === p || this.entries.has(dir)) return
    this.parents(dir, owner)
    this.entries.set(dir, {path: dir, type: 'dir', size: 0, mtimeMs: Date.now(), owner, sha256: null, nodes: [], generation: this.nextGeneration()})
  }

  putFile(entry: Omit<CatalogueEntry, 'type' | 'generation'>): CatalogueEntry {
    this.parents(entry.path, entry.owner)
    const e: CatalogueEntry = {...entry, type: 'file', nodes: [...entry.nodes], generation: this.nextGeneration()}
    this.entries.set(entry.path, e)
    return {...e}
  }

  mkdir(p: string, owner: string, mtimeMs = Date.now()): CatalogueEntry {
    this.parents(p, owner)
    const e: CatalogueEntry = {path: p, type: 'dir', size: 0, mtimeMs, owner, sha256: null, nodes: [], generation: this.nextGeneration()}
    this.entries.set(p, e)
    return {...e}
  }

  remove(p: string): void {
    if (this.list(p, 1).length > 0) throw new Error(`${p}: directory not empty`)
    this.entries.delete(p)
  }

  rename(from: string, to: string): void {
    const moved = [...this.entries.values()].filter((e) => e.path === from || e.path.startsWith(from + '/'))
    for (const e of moved) this.entries.delete(e.path)
    this.parents(to, moved[0]?.owner ?? '')
    for (const e of moved) {
      const p = to + e.path.slice(from.length)
      this.entries.set(p, {...e, path: p, generation: this.nextGeneration()})
    }
  }

  setMtime(p: string, mtimeMs: number): void {
    const e = this.entries.get(p)
    if (e) e.mtimeMs = mtimeMs
  }

  setNodes(p: string, nodes: string[]): void {
    const e = this.entries.get(p)
    if (e) e.nodes = [...nodes]
  }

  nextGeneration(): number {
    return ++this.generation
  }

  filesOn(nodeId: string, afterPath = '', limit = 1000): CatalogueEntry[] {
    return [...this.entries.values()].filter((e) => e.type === 'file' && e.nodes.includes(nodeId) && e.path > afterPath).sort((a, b) => (a.path < b.path ? -1 : 1)).slice(0, limit)
  }

  underReplicated(replicas: number, liveNodes: string[], limit = 1000): CatalogueEntry[] {
    return [...this.entries.values()].filter((e) => e.type === 'file' && e.nodes.filter((n) => liveNodes.includes(n)).length < replicas).slice(0, limit)
  }

  stats(): {files: number; dirs: number; bytes: number; perNode: Map<string, {files: number; bytes: number}>} {
    const perNode = new Map<string, {files: number; bytes: number}>()
    let files = 0
    let dirs = 0
    let bytes = 0
    for (const e of this.entries.values()) {
      if (e.type === 'dir') {
        dirs += 1
        continue
      }
      files += 1
      bytes += e.size
      for (const n of e.nodes) {
        const s = perNode.get(n) ?? {files: 0, bytes: 0}
        s.files += 1
        s.bytes += e.size
        perNode.set(n, s)
      }
    }
    return {files, dirs, bytes, perNode}
  }

  close(): void {}
}
