// Race-free resolution beneath a directory: walk from an open descriptor one component at a time, each step
// opened relative to the previous descriptor through /proc/self/fd/N/<name> with O_NOFOLLOW, so a symlink
// swapped in between a check and a use can never lead out (what openat2(RESOLVE_BENEATH) does in one call).
// Symlinks are expanded by us: their text is walked again under the same rules, so links that stay inside work.
import fs, {constants as C, type Stats} from 'node:fs'
import {PLACEHOLDER, fileError} from './file-errors.js'

/** Linux O_PATH (Node does not export it): a descriptor naming an inode without opening its content. */
export const O_PATH = 0o10000000
const DIR_FLAGS = O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW
const NODE_FLAGS = O_PATH | C.O_NOFOLLOW
/** Symlinks expanded in one resolution (Linux's own limit is 40). */
const MAX_LINKS = 32
/** Directories found made by someone else between our open (ENOENT) and mkdir (EEXIST), per walk. */
const MAX_CREATE_RACES = 8
/** Top-level name of the storage root kept for the striped cluster's pieces: never visible to users. */
export const RESERVED_TOP = '.stripe'

/** Path through which the kernel reaches `name` inside the directory open as `fd` (or `fd` itself). */
export function at(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`
}

/** Whether `child` is `parent` or below it, for absolute paths; correct for the root `/` too. */
export function isInside(parent: string, child: string): boolean {
  if (child === parent) return true
  const prefix = parent.endsWith('/') ? parent : parent + '/'
  return child.startsWith(prefix)
}

/** An open directory: its descriptor and its place as names below the storage root. */
export interface Anchor {
  fd: number
  names: string[]
  owned: boolean
}

function release(a: Anchor): void {
  if (a.owned) fs.closeSync(a.fd)
}

/** What a walk ends on: the directory reached, and for `node` walks the final entry as an O_PATH descriptor. */
export interface Resolved {
  dir: Anchor
  /** Final name inside `dir` (`parent` and `node` walks; absent when the walk ends on a directory itself). */
  name?: string
  /** O_PATH descriptor of the final entry (`node` walks), never a symlink; `dir.fd` when it is the directory. */
  fd?: number
  stat?: Stats
  close(): void
}

export type WalkMode = 'dir' | 'node' | 'parent'

/** One jail: the storage root (trusted operator path), the floor (depth of the home below it) and the home. */
export class Beneath {
  private real: string | undefined

  private constructor(
    private readonly storage: Anchor,
    private readonly home: Anchor,
  ) {}

  /**
   * Opens `storage` (the operator's path, symlinks followed) and walks `homeNames` beneath it, symlinks
   * contained in the storage; `create` makes missing home directories (0755) on the way.
   */
  static open(storagePath: string, homeNames: string[], create = false): Beneath {
    const storageFd = fs.openSync(storagePath, O_PATH | C.O_DIRECTORY)
    // Anchors the walk must not close are marked not owned; close() releases them.
    const storage: Anchor = {fd: storageFd, names: [], owned: false}
    try {
      const r = new Beneath(storage, storage).walk(homeNames, 'dir', create)
      return new Beneath(storage, {...r.dir, owned: false})
    } catch (error) {
      fs.closeSync(storageFd)
      throw error
    }
  }

  private get storageReal(): string {
    this.real ??= fs.readlinkSync(at(this.storage.fd))
    return this.real
  }

  get storageRealPath(): string {
    return this.storageReal
  }

  /** Real path of the home, for logs and tests (never sent to clients). */
  get homeReal(): string {
    return this.realOf(this.home.names)
  }

  /** Whether `dir` is the storage root itself, where the reserved top-level name lives. */
  isStorageTop(dir: Anchor): boolean {
    return dir.names.length === 0
  }

  close(): void {
    if (this.home.fd !== this.storage.fd) fs.closeSync(this.home.fd)
    fs.closeSync(this.storage.fd)
  }

  /**
   * Walks virtual components below the home. `dir`: every component a directory (symlinks followed);
   * `node`: the last one opened O_PATH (followed); `parent`: the last name left unresolved for the caller.
   */
  walk(components: string[], mode: WalkMode, create = false): Resolved {
    const queue = components.filter((c) => c !== '' && c !== '.').reverse()
    const floor = this.home.names.length
    let cur: Anchor = this.home
    let links = 0
    let raced = 0
    const done = (extra: Partial<Resolved>): Resolved => {
      const dir = cur
      const fd = extra.fd
      return {dir, ...extra, close: () => {
        if (fd !== undefined && fd !== dir.fd) fs.closeSync(fd)
        release(dir)
      }}
    }
    const expand = (name: string): void => {
      if (++links > MAX_LINKS) throw fileError('invalid-path', PLACEHOLDER, 'too many levels of symbolic links')
      const target = fs.readlinkSync(at(cur.fd, name))
      if (target.startsWith('/')) {
        const homeReal = this.realOf(this.home.names)
        if (!isInside(homeReal, target)) throw fileError('permission', PLACEHOLDER, 'symlink leads outside the home directory')
        release(cur)
        cur = this.home
        queue.push(...target.slice(homeReal.length).split('/').filter((c) => c !== '' && c !== '.').reverse())
      } else {
        queue.push(...target.split('/').filter((c) => c !== '' && c !== '.').reverse())
      }
    }
    try {
      while (queue.length > 0) {
        const name = queue.pop()!
        const last = queue.length === 0
        if (name === '..') {
          if (cur.names.length <= floor) throw fileError('permission', PLACEHOLDER, 'leads outside the home directory')
          const up = cur.names.slice(floor, -1)
          release(cur)
          cur = this.home
          if (up.length > 0) cur = this.walk(up, 'dir').dir
          continue
        }
        if (cur.names.length === 0 && name === RESERVED_TOP) {
          if (last && mode === 'parent') throw fileError('invalid-path', PLACEHOLDER, `"${RESERVED_TOP}" is reserved in the storage root`)
          throw fileError('not-found', PLACEHOLDER)
        }
        if (last && mode === 'parent') return done({name})
        if (last && mode === 'node') {
          const fd = fs.openSync(at(cur.fd, name), NODE_FLAGS)
          const stat = fs.fstatSync(fd)
          if (!stat.isSymbolicLink()) return done({name, fd, stat})
          fs.closeSync(fd)
          expand(name)
          continue
        }
        let fd: number
        try {
          fd = fs.openSync(at(cur.fd, name), DIR_FLAGS)
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code
          if (code === 'ENOENT' && create) {
            try {
              fs.mkdirSync(at(cur.fd, name), {mode: 0o755})
            } catch (mkdirError) {
              // Made meanwhile by another session or node on the same storage (two first logins at once):
              // opened again below, with the same checks. A name that keeps vanishing gives up after a few.
              if ((mkdirError as NodeJS.ErrnoException).code !== 'EEXIST' || ++raced > MAX_CREATE_RACES) throw mkdirError
            }
            queue.push(name)
            continue
          }
          if (code !== 'ENOTDIR') throw error
          if (!fs.lstatSync(at(cur.fd, name)).isSymbolicLink()) throw error
          expand(name)
          continue
        }
        const next: Anchor = {fd, names: [...cur.names, name], owned: true}
        release(cur)
        cur = next
      }
      if (mode === 'parent') throw fileError('permission', PLACEHOLDER, 'the home directory itself cannot be changed')
      if (mode === 'node') return done({fd: cur.fd, stat: fs.fstatSync(cur.fd)})
      return done({})
    } catch (error) {
      release(cur)
      throw error
    }
  }

  private realOf(names: string[]): string {
    if (names.length === 0) return this.storageReal
    return (this.storageReal === '/' ? '' : this.storageReal) + '/' + names.join('/')
  }
}

/** What the session needs of a jail for one operation. */
export interface Jail {
  walk(components: string[], mode: WalkMode): Resolved
  isStorageTop(dir: Anchor): boolean
  close(): void
}

/** Where a session's home really is, found once at login (a hint: every use re-checks it). */
export interface HomeHint {
  storageReal: string
  homeReal: string
}

function joinReal(base: string, names: string[]): string {
  if (names.length === 0) return base
  return (base === '/' ? '' : base) + '/' + names.join('/')
}

/**
 * A jail for one operation with a fast path: open the whole expected real path in one call (O_NOFOLLOW on the
 * last part), then ask the kernel where the descriptor really is (readlink of /proc/self/fd/N). Only when that
 * is exactly the expected path inside the home, i.e. no symlink was crossed and nothing moved, is it used;
 * anything else (a symlink, a swap, an error) takes the component-by-component walk, which decides.
 */
export class FastJail implements Jail {
  private slow: Beneath | undefined
  private readonly homeNames: string[]

  constructor(
    private readonly storagePath: string,
    private readonly configuredHome: string[],
    private readonly hint: HomeHint,
  ) {
    this.homeNames = hint.homeReal === hint.storageReal ? [] : hint.homeReal.slice(hint.storageReal === '/' ? 1 : hint.storageReal.length + 1).split('/')
  }

  walk(components: string[], mode: WalkMode): Resolved {
    return this.fast(components, mode) ?? this.beneath().walk(components, mode)
  }

  isStorageTop(dir: Anchor): boolean {
    return dir.names.length === 0
  }

  close(): void {
    this.slow?.close()
  }

  private beneath(): Beneath {
    this.slow ??= Beneath.open(this.storagePath, this.configuredHome)
    return this.slow
  }

  private fast(components: string[], mode: WalkMode): Resolved | null {
    const comps = components.filter((c) => c !== '' && c !== '.')
    if (comps.includes('..')) return null
    if (this.homeNames.length === 0 && comps[0] === RESERVED_TOP) return null
    const target = mode === 'parent' ? comps.slice(0, -1) : comps
    if (mode === 'parent' && comps.length === 0) return null
    const expected = joinReal(this.hint.homeReal, target)
    let fd: number
    try {
      fd = fs.openSync(expected, mode === 'node' ? NODE_FLAGS : DIR_FLAGS)
    } catch {
      return null
    }
    try {
      if (fs.readlinkSync(at(fd)) !== expected) throw new Error('moved')
      const stat = mode === 'node' ? fs.fstatSync(fd) : undefined
      if (stat?.isSymbolicLink()) throw new Error('symlink')
      const dir: Anchor = {fd, names: [...this.homeNames, ...target], owned: true}
      const extra = mode === 'parent' ? {name: comps[comps.length - 1]} : mode === 'node' ? {fd, stat, name: comps[comps.length - 1]} : {}
      return {dir, ...extra, close: () => fs.closeSync(fd)}
    } catch {
      fs.closeSync(fd)
      return null
    }
  }
}
