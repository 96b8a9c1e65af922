// The admin endpoint's SFTP tree: a small virtual filesystem of JSON documents (admin-protocol.md).
// Reads snapshot a document at OPEN; a write to /config/current.json is applied at CLOSE, and a refusal
// comes back as the CLOSE status with the reason.
import ssh2, {type SFTPWrapper} from 'ssh2'
import {redactSecrets} from '../../config/schema.js'
import {serializeConfig} from '../../config/store.js'
import {MAX_CONFIG_BYTES, OperationError, PATHS} from '../../protocol/index.js'
import type {Logger} from '../log.js'
import type {Actor, NodeRuntime} from '../node-runtime.js'

const {STATUS_CODE, OPEN_MODE} = ssh2.utils.sftp

/** A written document may carry baseRevision and a summary beyond the configuration itself. */
const MAX_WRITE = MAX_CONFIG_BYTES + 64 * 1024
const MAX_HANDLES = 64
const S_IFREG = 0o100000
const S_IFDIR = 0o040000

type Handle =
  | {kind: 'read'; data: Buffer}
  | {kind: 'write'; path: string; chunks: Buffer[]; size: number; failed: string | null}
  | {kind: 'dir'; entries: Entry[]; sent: boolean}

interface Entry {
  name: string
  dir: boolean
  size: number
}

/** Maps an error to an SFTP status; the one place this mapping lives for the admin tree. */
export function sftpStatusFor(error: unknown): {code: number; message: string} {
  if (error instanceof OperationError) {
    // "code: message → hint": the client splits it back into an OperationError (admin-client.ts sftpError).
    const text = error.hint ? `${error.message} → ${error.hint}` : error.message
    const code = error.code === 'not-primary' || error.code === 'fenced' || error.code === 'auth' ? STATUS_CODE.PERMISSION_DENIED : STATUS_CODE.FAILURE
    return {code, message: `${error.code}: ${text}`}
  }
  return {code: STATUS_CODE.FAILURE, message: `internal: ${(error as Error).message}`}
}

export class AdminSftpTree {
  private readonly handles = new Map<number, Handle>()
  private nextHandle = 1

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly node: NodeRuntime,
    private readonly actor: Actor,
    private readonly log: Logger,
  ) {
    // OpenSSH's client sends EOF and waits for the channel to close: close it, or `sftp` hangs at exit.
    sftp.on('end', () => sftp.end())
    sftp.on('REALPATH', (id, p) => {
      const path = normalize(p)
      sftp.name(id, [{filename: path, longname: path, attrs: this.attrsFor(this.entry(path) ?? {name: path, dir: true, size: 0})}])
    })
    sftp.on('STAT', (id, p) => this.stat(id, p))
    sftp.on('LSTAT', (id, p) => this.stat(id, p))
    sftp.on('OPEN', (id, p, flags) => this.open(id, p, flags))
    sftp.on('READ', (id, h, offset, length) => this.read(id, h, offset, length))
    sftp.on('WRITE', (id, h, offset, data) => this.write(id, h, offset, data))
    sftp.on('FSTAT', (id, h) => {
      const handle = this.get(h)
      if (!handle) return sftp.status(id, STATUS_CODE.FAILURE, 'invalid handle')
      const size = handle.kind === 'read' ? handle.data.length : handle.kind === 'write' ? handle.size : 0
      sftp.attrs(id, this.attrsFor({name: '', dir: handle.kind === 'dir', size}))
    })
    sftp.on('FSETSTAT', (id) => sftp.status(id, STATUS_CODE.OK)) // `put -p` sets times: harmless, ignored
    sftp.on('SETSTAT', (id) => sftp.status(id, STATUS_CODE.PERMISSION_DENIED, 'the admin tree has no settable attributes'))
    sftp.on('CLOSE', (id, h) => void this.close(id, h))
    sftp.on('OPENDIR', (id, p) => this.opendir(id, p))
    sftp.on('READDIR', (id, h) => this.readdir(id, h))
    for (const op of ['REMOVE', 'RMDIR', 'MKDIR', 'RENAME', 'READLINK', 'SYMLINK'] as const) {
      sftp.on(op, (id: number) => sftp.status(id, STATUS_CODE.PERMISSION_DENIED, 'the admin tree is read-only except /config/current.json'))
    }
  }

  private get(h: Buffer): Handle | undefined {
    return h.length === 4 ? this.handles.get(h.readUInt32BE(0)) : undefined
  }

  private addHandle(handle: Handle): Buffer | null {
    if (this.handles.size >= MAX_HANDLES) return null
    const n = this.nextHandle++
    this.handles.set(n, handle)
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
  }

  /** The document at a path, generated now. */
  private document(path: string): Buffer | null {
    const n = this.node
    if (path === PATHS.status) return Buffer.from(JSON.stringify(n.status(), null, 2) + '\n')
    // The primary's cluster key reads secrets (a promoted secondary or a pull needs them); admins do not.
    if (path === PATHS.config) return Buffer.from(serializeConfig(this.actor.kind === 'cluster' ? n.config : redactSecrets(n.config)))
    if (path === PATHS.configWithSecrets) return Buffer.from(serializeConfig(n.config))
    if (path === PATHS.servers) return Buffer.from(JSON.stringify(n.serversDocument(), null, 2) + '\n')
    return null
  }

  private entry(path: string): Entry | null {
    if (path === '/' || path === '/config' || path === PATHS.historyDir) return {name: path.split('/').pop() || '/', dir: true, size: 0}
    const doc = this.document(path)
    if (doc) return {name: path.split('/').pop()!, dir: false, size: doc.length}
    if (path.startsWith(PATHS.historyDir + '/') && /^\d+\.json$/.test(path.slice(PATHS.historyDir.length + 1))) {
      return {name: path.split('/').pop()!, dir: false, size: 0}
    }
    return null
  }

  private attrsFor(e: Entry) {
    const now = Math.floor(Date.now() / 1000)
    return {mode: e.dir ? S_IFDIR | 0o555 : S_IFREG | (e.name === 'current.json' ? 0o644 : 0o444), uid: 0, gid: 0, size: e.size, atime: now, mtime: now}
  }

  private stat(id: number, p: string): void {
    const e = this.entry(normalize(p))
    if (!e) return void this.sftp.status(id, STATUS_CODE.NO_SUCH_FILE, `no such file: ${p}`)
    this.sftp.attrs(id, this.attrsFor(e))
  }

  private open(id: number, p: string, flags: number): void {
    const path = normalize(p)
    const writing = (flags & OPEN_MODE.WRITE) !== 0
    if (writing) {
      if (path !== PATHS.config) return void this.sftp.status(id, STATUS_CODE.PERMISSION_DENIED, `${path} is read-only; only ${PATHS.config} can be written`)
      const h = this.addHandle({kind: 'write', path, chunks: [], size: 0, failed: null})
      if (!h) return void this.sftp.status(id, STATUS_CODE.FAILURE, 'too many open handles')
      return void this.sftp.handle(id, h)
    }
    void (async () => {
      let data = this.document(path)
      if (!data && path.startsWith(PATHS.historyDir + '/')) {
        const m = /^(\d+)\.json$/.exec(path.slice(PATHS.historyDir.length + 1))
        if (m) data = await this.node.store.historyEntry(Number(m[1])).then((c) => Buffer.from(serializeConfig(redactSecrets(c))), () => null)
      }
      if (!data) return this.sftp.status(id, STATUS_CODE.NO_SUCH_FILE, `no such file: ${path}`)
      const h = this.addHandle({kind: 'read', data})
      if (!h) return this.sftp.status(id, STATUS_CODE.FAILURE, 'too many open handles')
      this.sftp.handle(id, h)
    })()
  }

  private read(id: number, h: Buffer, offset: number, length: number): void {
    const handle = this.get(h)
    if (!handle || handle.kind !== 'read') return void this.sftp.status(id, STATUS_CODE.FAILURE, 'invalid handle')
    if (offset >= handle.data.length) return void this.sftp.status(id, STATUS_CODE.EOF)
    this.sftp.data(id, handle.data.subarray(offset, Math.min(handle.data.length, offset + length)))
  }

  private write(id: number, h: Buffer, offset: number, data: Buffer): void {
    const handle = this.get(h)
    if (!handle || handle.kind !== 'write') return void this.sftp.status(id, STATUS_CODE.FAILURE, 'invalid handle')
    if (offset !== handle.size) handle.failed = 'writes must be sequential'
    else if (handle.size + data.length > MAX_WRITE) handle.failed = `the configuration is larger than ${MAX_WRITE} bytes`
    else {
      handle.chunks.push(Buffer.from(data))
      handle.size += data.length
    }
    this.sftp.status(id, handle.failed ? STATUS_CODE.FAILURE : STATUS_CODE.OK, handle.failed ?? undefined)
  }

  private async close(id: number, h: Buffer): Promise<void> {
    const handle = this.get(h)
    if (!handle) return void this.sftp.status(id, STATUS_CODE.FAILURE, 'invalid handle')
    this.handles.delete(h.readUInt32BE(0))
    if (handle.kind !== 'write') return void this.sftp.status(id, STATUS_CODE.OK)
    if (handle.failed) return void this.sftp.status(id, STATUS_CODE.FAILURE, handle.failed)
    try {
      const applied = await this.node.writeConfig(Buffer.concat(handle.chunks).toString('utf8'), this.actor)
      this.log.info('configuration applied', {revision: applied.revision, by: this.actor.user, from: this.actor.address})
      this.sftp.status(id, STATUS_CODE.OK)
    } catch (error) {
      const {code, message} = sftpStatusFor(error)
      this.log.warn('configuration write refused', {by: this.actor.user, from: this.actor.address, reason: message})
      this.sftp.status(id, code, message)
    }
  }

  private opendir(id: number, p: string): void {
    const path = normalize(p)
    void (async () => {
      let entries: Entry[]
      if (path === '/') {
        entries = [
          {name: 'status.json', dir: false, size: this.document(PATHS.status)!.length},
          {name: 'servers.json', dir: false, size: this.document(PATHS.servers)!.length},
          {name: 'config', dir: true, size: 0},
        ]
      } else if (path === '/config') {
        entries = [
          {name: 'current.json', dir: false, size: this.document(PATHS.config)!.length},
          {name: 'history', dir: true, size: 0},
        ]
      } else if (path === PATHS.historyDir) {
        entries = (await this.node.store.history()).map((r) => ({name: `${r}.json`, dir: false, size: 0}))
      } else {
        return this.sftp.status(id, STATUS_CODE.NO_SUCH_FILE, `no such directory: ${path}`)
      }
      const h = this.addHandle({kind: 'dir', entries, sent: false})
      if (!h) return this.sftp.status(id, STATUS_CODE.FAILURE, 'too many open handles')
      this.sftp.handle(id, h)
    })()
  }

  private readdir(id: number, h: Buffer): void {
    const handle = this.get(h)
    if (!handle || handle.kind !== 'dir') return void this.sftp.status(id, STATUS_CODE.FAILURE, 'invalid handle')
    if (handle.sent) return void this.sftp.status(id, STATUS_CODE.EOF)
    handle.sent = true
    this.sftp.name(
      id,
      handle.entries.map((e) => {
        const attrs = this.attrsFor(e)
        const longname = `${e.dir ? 'd' : '-'}${e.dir ? 'r-xr-xr-x' : 'r--r--r--'} 1 0 0 ${String(e.size).padStart(8)} ${new Date().toDateString().slice(4, 10)} 00:00 ${e.name}`
        return {filename: e.name, longname, attrs}
      }),
    )
  }
}

/** Resolves `.`/`..` and duplicate slashes; the tree is virtual, so nothing can escape it. */
export function normalize(p: string): string {
  const out: string[] = []
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') out.pop()
    else out.push(part)
  }
  return '/' + out.join('/')
}
