// A storage node's pieces of the striped tree, path-mirrored under `<stripeDir>/data/<vpath>`, each with a
// sidecar `.<name>.stripe-meta` (JSON: size, mtime, owner, sha256, generation) in the same directory, so a
// directory rename stays one rename(2) and the node's inventory can rebuild the gateway's catalogue.
// Writes are atomic: a part file `.<name>.<random>.stripe-part`, fsync, rename, directory fsync.
import {createHash, randomBytes} from 'node:crypto'
import {promises as fs, constants as fsc} from 'node:fs'
import path from 'node:path'
import type {PieceInfo} from './contract.js'

const META_SUFFIX = '.stripe-meta'
const PART_SUFFIX = '.stripe-part'

/** Names the store keeps for itself inside the mirrored tree: the gateway refuses them from clients. */
export function isReservedName(name: string): boolean {
  return name.startsWith('.') && (name.endsWith(META_SUFFIX) || name.endsWith(PART_SUFFIX))
}

export class PieceError extends Error {
  constructor(
    readonly kind: 'not-found' | 'invalid-path' | 'exists' | 'not-empty' | 'no-space' | 'io',
    message: string,
  ) {
    super(message)
    this.name = 'PieceError'
  }
}

/** A virtual path: absolute, normalised, no `..`, no NUL, no reserved component. Returns its components. */
export function pathParts(vpath: string): string[] {
  if (typeof vpath !== 'string' || !vpath.startsWith('/') || vpath.includes('\0') || vpath.includes('\\')) {
    throw new PieceError('invalid-path', `invalid piece path ${JSON.stringify(vpath)}`)
  }
  const parts = vpath.split('/').filter((p) => p !== '')
  for (const p of parts) {
    if (p === '.' || p === '..' || isReservedName(p)) throw new PieceError('invalid-path', `invalid piece path ${JSON.stringify(vpath)}`)
  }
  return parts
}

interface Meta {
  size: number
  mtimeMs: number
  owner: string
  sha256: string
  generation: number
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY)
  try {
    await h.sync()
  } finally {
    await h.close()
  }
}

/** A file-system failure of `what` as the PieceError a gateway is told (its kind travels over the link). */
export function pieceErrorOf(error: unknown, what: string): PieceError {
  if (error instanceof PieceError) return error
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return new PieceError('not-found', `${what}: no such piece`)
  if (code === 'EEXIST') return new PieceError('exists', `${what}: already exists`)
  if (code === 'ENOTEMPTY') return new PieceError('not-empty', `${what}: directory not empty`)
  if (code === 'ENOSPC' || code === 'EDQUOT') return new PieceError('no-space', `${what}: no space left on the node's disk`)
  if (code === 'ENOTDIR' || code === 'EISDIR') return new PieceError('invalid-path', `${what}: a file and a directory of that name collide`)
  return new PieceError('io', `${what}: ${(error as Error).message}`)
}

function mapError(error: unknown, what: string): never {
  throw pieceErrorOf(error, what)
}

/** An upload in progress: bytes go to `fd` from `startOffset`; `hash` already covers the kept prefix. */
export interface PieceWriter {
  readonly fd: number
  readonly startOffset: number
  readonly hash: ReturnType<typeof createHash>
  /** fsyncs the part file and returns its size and hash (the piece is not replaced yet). */
  seal(): Promise<{size: number; sha256: string}>
  /** fsyncs, renames over the piece, writes the sidecar, fsyncs the directory; returns the durable piece. */
  commit(meta: {owner: string; mtimeMs?: number; generation: number}): Promise<PieceInfo>
  abort(): Promise<void>
}

export class PieceStore {
  readonly dataDir: string
  /** Running totals (bytes and files held), computed by one walk at open and kept up to date. */
  private used = 0
  private count = 0

  private constructor(readonly root: string) {
    this.dataDir = path.join(root, 'data')
  }

  static async open(root: string): Promise<PieceStore> {
    const store = new PieceStore(root)
    await fs.mkdir(store.dataDir, {recursive: true, mode: 0o700})
    for await (const piece of store.inventory(true)) {
      store.used += piece.size
      store.count += 1
    }
    return store
  }

  get usedBytes(): number {
    return this.used
  }

  get files(): number {
    return this.count
  }

  real(vpath: string): string {
    return path.join(this.dataDir, ...pathParts(vpath))
  }

  private metaPath(vpath: string): string {
    const parts = pathParts(vpath)
    if (parts.length === 0) throw new PieceError('invalid-path', 'the root is not a piece')
    const name = parts.pop()!
    return path.join(this.dataDir, ...parts, `.${name}${META_SUFFIX}`)
  }

  private async readMeta(vpath: string): Promise<Meta | null> {
    try {
      return JSON.parse(await fs.readFile(this.metaPath(vpath), 'utf8')) as Meta
    } catch {
      return null
    }
  }

  /** The piece as stored, or null. A piece whose sidecar does not match its size reports generation 0 (stale). */
  async stat(vpath: string): Promise<PieceInfo | null> {
    let st
    try {
      st = await fs.stat(this.real(vpath))
    } catch {
      return null
    }
    if (!st.isFile()) return null
    const meta = await this.readMeta(vpath)
    if (!meta || meta.size !== st.size) return {path: vpath, size: st.size, mtimeMs: st.mtimeMs, owner: meta?.owner ?? '', sha256: '', generation: 0}
    return {path: vpath, ...meta}
  }

  /** Every piece, depth first. `cleanup` also deletes part files left by a crash (only at open). */
  async *inventory(cleanup = false): AsyncGenerator<PieceInfo> {
    const stack: string[] = ['']
    while (stack.length > 0) {
      const rel = stack.pop()!
      let entries
      try {
        entries = await fs.readdir(path.join(this.dataDir, rel), {withFileTypes: true})
      } catch {
        continue
      }
      for (const e of entries.sort((a, b) => (a.name < b.name ? 1 : -1))) {
        const childRel = rel === '' ? e.name : `${rel}/${e.name}`
        if (e.isDirectory()) stack.push(childRel)
        else if (e.isFile() && e.name.endsWith(PART_SUFFIX) && e.name.startsWith('.')) {
          if (cleanup) await fs.rm(path.join(this.dataDir, childRel), {force: true})
        } else if (e.isFile() && !isReservedName(e.name)) {
          const piece = await this.stat('/' + childRel)
          if (piece) yield piece
        }
      }
    }
  }

  async dirExists(vpath: string): Promise<boolean> {
    try {
      return (await fs.stat(this.real(vpath))).isDirectory()
    } catch {
      return false
    }
  }

  /** Re-reads the piece and hashes it (verify). */
  async hash(vpath: string): Promise<{size: number; sha256: string} | null> {
    const h = createHash('sha256')
    let size = 0
    try {
      const file = await fs.open(this.real(vpath), 'r')
      try {
        const buf = Buffer.allocUnsafe(1024 * 1024)
        for (;;) {
          const {bytesRead} = await file.read(buf, 0, buf.length, size)
          if (bytesRead === 0) break
          h.update(buf.subarray(0, bytesRead))
          size += bytesRead
        }
      } finally {
        await file.close()
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') return null
      throw error
    }
    return {size, sha256: h.digest('hex')}
  }

  async openRead(vpath: string): Promise<{fd: number; size: number; close(): Promise<void>}> {
    try {
      const handle = await fs.open(this.real(vpath), 'r')
      const st = await handle.stat()
      if (!st.isFile()) {
        await handle.close()
        throw new PieceError('not-found', `${vpath}: not a file`)
      }
      return {fd: handle.fd, size: st.size, close: () => handle.close()}
    } catch (error) {
      if (error instanceof PieceError) throw error
      return mapError(error, vpath)
    }
  }

  /**
   * Starts writing a piece. `offset` keeps that many bytes of the current piece (REST+STOR; APPE passes the
   * current size): they are copied to the part file, so the old piece stays whole until the commit.
   */
  async beginWrite(vpath: string, offset = 0): Promise<PieceWriter> {
    const target = this.real(vpath)
    const dir = path.dirname(target)
    const part = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}${PART_SUFFIX}`)
    const hash = createHash('sha256')
    try {
      await fs.mkdir(dir, {recursive: true, mode: 0o700})
      if (offset > 0) {
        const before = await this.openRead(vpath)
        try {
          if (before.size < offset) throw new PieceError('invalid-path', `${vpath}: restart offset ${offset} is beyond the piece's ${before.size} bytes`)
        } finally {
          await before.close()
        }
        await fs.copyFile(target, part)
        await fs.truncate(part, offset)
        const kept = await fs.open(part, 'r')
        try {
          const buf = Buffer.allocUnsafe(1024 * 1024)
          for (let pos = 0; pos < offset; ) {
            const {bytesRead} = await kept.read(buf, 0, Math.min(buf.length, offset - pos), pos)
            if (bytesRead === 0) break
            hash.update(buf.subarray(0, bytesRead))
            pos += bytesRead
          }
        } finally {
          await kept.close()
        }
      }
    } catch (error) {
      await fs.rm(part, {force: true})
      if (error instanceof PieceError) throw error
      return mapError(error, vpath)
    }
    const handle = await fs.open(part, offset > 0 ? 'r+' : 'w', 0o600)
    let done = false
    let sealed: {size: number; sha256: string} | null = null
    const seal = async () => {
      if (!sealed) {
        await handle.sync()
        sealed = {size: (await handle.stat()).size, sha256: hash.digest('hex')}
      }
      return sealed
    }
    const abort = async () => {
      if (done) return
      done = true
      await handle.close().catch(() => {})
      await fs.rm(part, {force: true})
    }
    return {
      fd: handle.fd,
      startOffset: offset,
      hash,
      abort,
      seal,
      commit: async (meta) => {
        if (done) throw new PieceError('io', `${vpath}: the upload was already closed`)
        try {
          const {size, sha256} = await seal()
          done = true
          await handle.close()
          const previous = await this.stat(vpath)
          const mtimeMs = meta.mtimeMs ?? Date.now()
          const piece: PieceInfo = {path: vpath, size, mtimeMs, owner: meta.owner, sha256, generation: meta.generation}
          await this.writeMeta(vpath, piece)
          await fs.rename(part, target)
          await fs.utimes(target, new Date(mtimeMs), new Date(mtimeMs)).catch(() => {})
          await fsyncDir(dir)
          this.used += piece.size - (previous?.size ?? 0)
          if (!previous) this.count += 1
          return piece
        } catch (error) {
          done = true
          await handle.close().catch(() => {})
          await fs.rm(part, {force: true})
          if (error instanceof PieceError) throw error
          return mapError(error, vpath)
        }
      },
    }
  }

  /** The sidecar is renamed into place before the piece: a crash between leaves a size mismatch (stale). */
  private async writeMeta(vpath: string, piece: PieceInfo): Promise<void> {
    const file = this.metaPath(vpath)
    const tmp = `${file}.${randomBytes(4).toString('hex')}${PART_SUFFIX}`
    const meta: Meta = {size: piece.size, mtimeMs: piece.mtimeMs, owner: piece.owner, sha256: piece.sha256, generation: piece.generation}
    const h = await fs.open(tmp, 'w', 0o600)
    try {
      await h.writeFile(JSON.stringify(meta))
      await h.sync()
    } finally {
      await h.close()
    }
    await fs.rename(tmp, file)
  }

  async setMtime(vpath: string, mtimeMs: number): Promise<void> {
    const piece = await this.stat(vpath)
    if (!piece) throw new PieceError('not-found', `${vpath}: no such piece`)
    await this.writeMeta(vpath, {...piece, mtimeMs})
    await fs.utimes(this.real(vpath), new Date(mtimeMs), new Date(mtimeMs)).catch(() => {})
    await fsyncDir(path.dirname(this.real(vpath)))
  }

  /** Deletes a piece (and its sidecar); a missing piece is not an error (idempotent). */
  async remove(vpath: string): Promise<void> {
    const piece = await this.stat(vpath)
    if (!piece) return
    try {
      await fs.rm(this.real(vpath), {force: true})
      await fs.rm(this.metaPath(vpath), {force: true})
      await fsyncDir(path.dirname(this.real(vpath)))
    } catch (error) {
      return mapError(error, vpath)
    }
    this.used -= piece.size
    this.count -= 1
  }

  /** Renames a piece (with its sidecar) or a whole directory (one rename(2)); creates the target's parents. */
  async rename(from: string, to: string, generation: number): Promise<void> {
    const src = this.real(from)
    const dst = this.real(to)
    let st
    try {
      st = await fs.stat(src)
    } catch (error) {
      return mapError(error, from)
    }
    try {
      await fs.mkdir(path.dirname(dst), {recursive: true, mode: 0o700})
      if (st.isDirectory()) {
        await fs.rename(src, dst)
      } else {
        const replaced = await this.stat(to)
        const piece = await this.stat(from)
        await fs.rename(src, dst)
        await fs.rename(this.metaPath(from), this.metaPath(to)).catch(() => {})
        if (piece && piece.sha256 !== '') await this.writeMeta(to, {...piece, path: to, generation})
        if (replaced) {
          this.used -= replaced.size
          this.count -= 1
        }
      }
      await fsyncDir(path.dirname(dst))
      if (path.dirname(src) !== path.dirname(dst)) await fsyncDir(path.dirname(src))
    } catch (error) {
      return mapError(error, `${from} → ${to}`)
    }
  }

  async mkdir(vpath: string): Promise<void> {
    try {
      await fs.mkdir(this.real(vpath), {recursive: true, mode: 0o700})
    } catch (error) {
      return mapError(error, vpath)
    }
  }

  /** Removes a directory that holds no piece (sidecars and empty subdirectories go with it). */
  async rmdir(vpath: string): Promise<void> {
    if (pathParts(vpath).length === 0) throw new PieceError('invalid-path', 'the root cannot be removed')
    for await (const piece of this.inventoryUnder(vpath)) throw new PieceError('not-empty', `${vpath}: still holds ${piece.path}`)
    await fs.rm(this.real(vpath), {recursive: true, force: true})
  }

  private async *inventoryUnder(vpath: string): AsyncGenerator<PieceInfo> {
    const sub = new PieceStore(this.root)
    ;(sub as {dataDir: string}).dataDir = this.real(vpath)
    for await (const p of sub.inventory()) yield {...p, path: vpath + p.path}
  }
}
