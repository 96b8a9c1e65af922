// WebDAV class 1 and 2 over the FileSession: the jail, permissions and atomic uploads are the session's;
// this file only translates methods, headers and XML. Locks and dead properties are cluster-wide (shared state).
import fs from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import type {User} from '../../config/schema.js'
import {sendFile} from '../session/send-file.js'
import type {FileSession, FileStat} from '../session/types.js'
import {FileError} from '../session/types.js'
import {toFileError} from '../session/file-errors.js'
import type {Logger} from '../log.js'
import {DeadProps, type DeadProp} from './dav-props.js'
import {parseIfHeader, submittedTokens, IfHeaderError, type IfList} from './dav-if-header.js'
import {covering, DEFAULT_LOCK_SECONDS, LockConflict, LockTable, MAX_LOCK_SECONDS, type DavLock} from './dav-locks.js'
import {davPathOf, DavPathError, destinationPath, hrefOf} from './dav-paths.js'
import {child, DAV, elements, escapeXml, parseXml, serializeElement, XmlError, type XmlElement} from './dav-xml.js'
import {contentType} from './mime.js'
import {SharedState, STATE_DIR} from './shared-state.js'

/** A client error with its HTTP status (and optional DAV precondition element). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly condition?: string) {
    super(message)
  }
}

export interface DavRequest {
  req: IncomingMessage
  res: ServerResponse
  session: FileSession
  user: User
}

const MAX_BODY = 1024 * 1024
const UNTRUSTED_CONTENT = {'content-security-policy': "sandbox; default-src 'none'; img-src 'self'; media-src 'self'", 'x-content-type-options': 'nosniff'}
const MAX_COPY_ENTRIES = 100_000
const LIVE = ['creationdate', 'displayname', 'getcontentlength', 'getcontenttype', 'getetag', 'getlastmodified', 'resourcetype', 'supportedlock', 'lockdiscovery']

export function statusOfFileError(e: FileError): number {
  switch (e.kind) {
    case 'not-found': return 404
    case 'permission': return 403
    case 'exists': return 412
    case 'not-empty': return 409
    case 'not-directory': return 409
    case 'is-directory': return 405
    case 'no-space': return 507
    case 'invalid-path': return 400
    case 'busy': return 423
    default: return 500
  }
}

/**
 * A failure of the storage under a stream (a write that hit a full disk: ENOSPC, an EIO) as the FileError of
 * `v`, so it is answered 507 or 500 with a reason; the client's own failures (a dropped connection) pass as
 * they are. Node's fs errors carry the system call that failed, a request's do not.
 */
function storageError(error: unknown, v: string): unknown {
  return typeof (error as NodeJS.ErrnoException | null)?.syscall === 'string' ? toFileError(error, v) : error
}

export function etagOf(st: FileStat): string {
  return `"${st.size.toString(16)}-${Math.floor(st.mtime.getTime()).toString(16)}"`
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large')
    chunks.push(c)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined
}

function xmlDoc(body: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n${body}`
}

export class DavHandler {
  readonly locks: LockTable
  readonly props: DeadProps

  constructor(storage: string, private readonly log?: Logger) {
    const state = new SharedState(storage)
    this.locks = new LockTable(state)
    this.props = new DeadProps(state)
  }

  async handle(r: DavRequest): Promise<void> {
    const {req, res} = r
    try {
      const v = davPathOf(req.url ?? '/')
      const method = (req.method ?? 'GET').toUpperCase()
      switch (method) {
        case 'OPTIONS': return this.options(res)
        case 'GET': case 'HEAD': return await this.get(r, v, method === 'HEAD')
        case 'PUT': return await this.put(r, v)
        case 'DELETE': return await this.delete(r, v)
        case 'MKCOL': return await this.mkcol(r, v)
        case 'COPY': return await this.copyMove(r, v, false)
        case 'MOVE': return await this.copyMove(r, v, true)
        case 'PROPFIND': return await this.propfind(r, v)
        case 'PROPPATCH': return await this.proppatch(r, v)
        case 'LOCK': return await this.lock(r, v)
        case 'UNLOCK': return await this.unlock(r, v)
        default: throw new HttpError(405, `method ${method} not supported`)
      }
    } catch (error) {
      this.fail(res, error, r.user?.name)
    }
  }

  fail(res: ServerResponse, error: unknown, user?: string): void {
    let status = 500
    let message = 'internal error'
    let condition: string | undefined
    if (error instanceof HttpError) ({status, message, condition} = error)
    else if (error instanceof FileError) [status, message] = [statusOfFileError(error), error.message]
    else if (error instanceof DavPathError) [status, message] = [400, error.message]
    else if (error instanceof XmlError) [status, message] = [400, `malformed XML: ${error.message}`]
    else if (error instanceof IfHeaderError) [status, message] = [400, error.message]
    else if (error instanceof LockConflict) [status, message, condition] = [423, `locked by another client: ${error.message}`, 'lock-token-submitted']
    // The server's failures are the operator's to see (a full disk, an I/O error): the client's are not logged.
    if (status >= 500) this.log?.warn('webdav request failed', {user, method: res.req.method, url: res.req.url, status, reason: error instanceof Error ? error.message : String(error)})
    if (res.headersSent) return void res.destroy()
    const body = condition ? xmlDoc(`<D:error xmlns:D="DAV:"><D:${condition}/></D:error>\n`) : `${message}\n`
    res.writeHead(status, {'content-type': condition ? 'application/xml; charset=utf-8' : 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body)})
    res.end(body)
  }

  private options(res: ServerResponse): void {
    res.writeHead(200, {
      dav: '1, 2',
      'ms-author-via': 'DAV',
      allow: 'OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK',
      'content-length': 0,
    })
    res.end()
  }

  /** Storage-relative path (locks and properties are keyed by it: the same file for users with overlapping homes). */
  private key(r: DavRequest, v: string): string {
    return path.posix.join(r.user.home, v)
  }

  private async statOrNull(r: DavRequest, v: string): Promise<FileStat | null> {
    try {
      return await r.session.stat(v)
    } catch (error) {
      if (error instanceof FileError && (error.kind === 'not-found' || error.kind === 'not-directory')) return null
      throw error
    }
  }

  /** Evaluates the If header (412 when false) and returns the lock tokens it submits. */
  private async conditions(r: DavRequest, v: string): Promise<string[]> {
    const header = r.req.headers.if
    if (typeof header !== 'string' || header.trim() === '') return []
    const lists: IfList[] = parseIfHeader(header)
    const locks = await this.locks.all()
    const cache = new Map<string, FileStat | null>()
    const evaluate = async (list: IfList): Promise<boolean> => {
      let target = v
      if (list.resource !== undefined) {
        try {
          target = davPathOf(destinationPath(list.resource))
        } catch {
          return false
        }
      }
      if (!cache.has(target)) cache.set(target, await this.statOrNull(r, target))
      const st = cache.get(target)!
      const tokens = covering(locks, this.key(r, target)).map((l) => l.token)
      return list.conditions.every((c) => {
        const holds = c.token !== undefined ? tokens.includes(c.token) : st !== null && c.etag === etagOf(st)
        return c.not ? !holds : holds
      })
    }
    let any = false
    for (const l of lists) if (await evaluate(l)) any = true
    if (!any) throw new HttpError(412, 'the If header does not match the current state of the resource')
    return submittedTokens(lists)
  }

  private async checkLocks(r: DavRequest, v: string, tokens: string[], opts: {members?: boolean; parent?: boolean} = {}): Promise<void> {
    const parent = opts.parent && v !== '/' ? this.key(r, path.posix.dirname(v)) : undefined
    await this.locks.checkWrite(this.key(r, v), {user: r.user.name, tokens, members: opts.members, parent})
  }

  private async get(r: DavRequest, v: string, head: boolean): Promise<void> {
    const {req, res} = r
    const st = await r.session.stat(v)
    if (st.isDirectory) return this.listing(r, v, head)
    const etag = etagOf(st)
    // user content never runs with the web client's origin (a stored HTML or SVG file cannot read the CSRF token)
    const headers: Record<string, string | number> = {etag, 'last-modified': st.mtime.toUTCString(), 'accept-ranges': 'bytes', 'content-type': contentType(v), ...UNTRUSTED_CONTENT}
    const inm = req.headers['if-none-match']
    if (inm !== undefined && (inm.trim() === '*' || inm.split(',').map((x) => x.trim()).includes(etag))) {
      res.writeHead(304, headers)
      return void res.end()
    }
    const im = req.headers['if-match']
    if (im !== undefined && im.trim() !== '*' && !im.split(',').map((x) => x.trim()).includes(etag)) throw new HttpError(412, 'If-Match does not match')
    const ims = req.headers['if-modified-since']
    if (inm === undefined && ims !== undefined && Math.floor(st.mtime.getTime() / 1000) <= Math.floor(Date.parse(ims) / 1000)) {
      res.writeHead(304, headers)
      return void res.end()
    }
    let start = 0
    let end = st.size - 1
    let status = 200
    const range = req.headers.range
    const ifRange = req.headers['if-range']
    if (range !== undefined && (ifRange === undefined || ifRange === etag)) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim())
      if (m && (m[1] !== '' || m[2] !== '')) {
        if (m[1] === '') {
          start = Math.max(0, st.size - Number(m[2]))
        } else {
          start = Number(m[1])
          if (m[2] !== '') end = Math.min(end, Number(m[2]))
        }
        if (start >= st.size || start > end) {
          res.writeHead(416, {'content-range': `bytes */${st.size}`, 'content-length': 0})
          return void res.end()
        }
        status = 206
        headers['content-range'] = `bytes ${start}-${end}/${st.size}`
      }
      // several ranges or a malformed one: the whole entity (RFC 9110 lets a server ignore Range)
    }
    headers['content-length'] = st.size === 0 ? 0 : end - start + 1
    if (head || st.size === 0) {
      res.writeHead(status, headers)
      return void res.end()
    }
    const h = await r.session.openRead(v)
    try {
      res.writeHead(status, headers)
      // two reused 1 MiB buffers: createReadStream's fresh 256 KiB chunks cost 1.8× the CPU per HTTPS GET
      await sendFile(h.fd, res, start, end - start + 1, () => {}, (message) => new Error(message))
      res.end()
    } finally {
      await h.close()
    }
  }

  private async listing(r: DavRequest, v: string, head: boolean): Promise<void> {
    const entries = (await r.session.list(v)).filter((e) => !(v === '/' && e.name === STATE_DIR))
    entries.sort((a, b) => a.name.localeCompare(b.name))
    const rows = entries.map((e) => `<li><a href="${escapeXml(hrefOf(path.posix.join(v, e.name), e.isDirectory))}">${escapeXml(e.name)}${e.isDirectory ? '/' : ''}</a></li>`)
    const body = `<!doctype html><meta charset="utf-8"><title>${escapeXml(v)}</title><h1>${escapeXml(v)}</h1><ul>${rows.join('')}</ul>\n`
    r.res.writeHead(200, {'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), ...UNTRUSTED_CONTENT})
    r.res.end(head ? undefined : body)
  }

  private async put(r: DavRequest, v: string): Promise<void> {
    const {req, res} = r
    if (req.headers['content-range'] !== undefined) throw new HttpError(400, 'partial PUT (Content-Range) is not supported')
    const tokens = await this.conditions(r, v)
    const parent = await this.statOrNull(r, path.posix.dirname(v))
    if (!parent || !parent.isDirectory) throw new HttpError(409, 'the parent collection does not exist')
    const existing = await this.statOrNull(r, v)
    if (existing?.isDirectory) throw new HttpError(405, 'a collection exists at this URL')
    await this.checkLocks(r, v, tokens, {parent: existing === null})
    const upload = await r.session.openWrite(v)
    try {
      await pipeline(req, fs.createWriteStream('', {fd: upload.fd, autoClose: false, highWaterMark: 1024 * 1024}))
      await upload.commit()
    } catch (error) {
      await upload.abort(false)
      throw storageError(error, v)
    }
    const st = await this.statOrNull(r, v)
    res.writeHead(existing ? 204 : 201, st ? {etag: etagOf(st), 'content-length': 0} : {'content-length': 0})
    res.end()
  }

  private async removeTree(r: DavRequest, v: string, st: FileStat): Promise<void> {
    if (!st.isDirectory) return r.session.remove(v)
    for (const e of await r.session.list(v)) await this.removeTree(r, path.posix.join(v, e.name), e)
    await r.session.rmdir(v)
  }

  private async delete(r: DavRequest, v: string): Promise<void> {
    if (v === '/') throw new HttpError(403, 'the home collection cannot be deleted')
    const tokens = await this.conditions(r, v)
    const st = await r.session.stat(v)
    await this.checkLocks(r, v, tokens, {members: true, parent: true})
    await this.removeTree(r, v, st)
    await this.props.remove(this.key(r, v))
    await this.locks.dropUnder(this.key(r, v))
    r.res.writeHead(204)
    r.res.end()
  }

  private async mkcol(r: DavRequest, v: string): Promise<void> {
    if (hasBody(r.req)) {
      await readBody(r.req).catch(() => '')
      throw new HttpError(415, 'MKCOL with a body is not supported')
    }
    const tokens = await this.conditions(r, v)
    if (await this.statOrNull(r, v)) throw new HttpError(405, 'something already exists at this URL')
    const parent = await this.statOrNull(r, path.posix.dirname(v))
    if (!parent || !parent.isDirectory) throw new HttpError(409, 'the parent collection does not exist')
    await this.checkLocks(r, v, tokens, {parent: true})
    await r.session.mkdir(v)
    r.res.writeHead(201, {'content-length': 0})
    r.res.end()
  }

  private async copyTree(r: DavRequest, from: string, to: string, st: FileStat, deep: boolean, budget: {n: number}): Promise<void> {
    if (--budget.n < 0) throw new HttpError(507, 'too many entries to copy')
    if (st.isDirectory) {
      await r.session.mkdir(to)
      if (!deep) return
      for (const e of await r.session.list(from)) await this.copyTree(r, path.posix.join(from, e.name), path.posix.join(to, e.name), e, deep, budget)
      return
    }
    const src = await r.session.openRead(from)
    try {
      const dst = await r.session.openWrite(to)
      try {
        await pipeline(fs.createReadStream('', {fd: src.fd, start: 0, autoClose: false}), fs.createWriteStream('', {fd: dst.fd, autoClose: false}))
        await dst.commit()
      } catch (error) {
        await dst.abort(false)
        throw storageError(error, to)
      }
    } finally {
      await src.close()
    }
  }

  private async copyMove(r: DavRequest, v: string, move: boolean): Promise<void> {
    const {req, res} = r
    const dh = req.headers.destination
    if (typeof dh !== 'string') throw new HttpError(400, 'Destination header missing')
    let to: string
    try {
      to = davPathOf(destinationPath(dh))
    } catch (error) {
      if (error instanceof DavPathError && error.message === 'not under /dav') throw new HttpError(502, 'the Destination is not on this server')
      throw error
    }
    const overwrite = (req.headers.overwrite ?? 'T').toString().trim().toUpperCase() !== 'F'
    const depthHeader = (req.headers.depth ?? 'infinity').toString().trim().toLowerCase()
    if (move && depthHeader !== 'infinity') throw new HttpError(400, 'MOVE of a collection needs Depth: infinity')
    if (!['0', 'infinity'].includes(depthHeader)) throw new HttpError(400, 'Depth must be 0 or infinity')
    if (to === v) throw new HttpError(403, 'source and destination are the same')
    if (to.startsWith(v === '/' ? '/' : v + '/') || v === '/') throw new HttpError(403, 'cannot copy or move a collection into itself')
    const tokens = await this.conditions(r, v)
    const st = await r.session.stat(v)
    const dparent = await this.statOrNull(r, path.posix.dirname(to))
    if (!dparent || !dparent.isDirectory) throw new HttpError(409, 'the destination\'s parent collection does not exist')
    const existing = await this.statOrNull(r, to)
    if (existing && !overwrite) throw new HttpError(412, 'the destination exists and Overwrite is F')
    if (move) await this.checkLocks(r, v, tokens, {members: true, parent: true})
    await this.checkLocks(r, to, tokens, {members: true, parent: true})
    if (existing) {
      await this.removeTree(r, to, existing)
      await this.locks.dropUnder(this.key(r, to))
    }
    if (move) {
      await r.session.rename(v, to)
      await this.props.move(this.key(r, v), this.key(r, to))
      await this.locks.dropUnder(this.key(r, v))
    } else {
      await this.copyTree(r, v, to, st, depthHeader === 'infinity', {n: MAX_COPY_ENTRIES})
      await this.props.copy(this.key(r, v), this.key(r, to), depthHeader === 'infinity')
    }
    res.writeHead(existing ? 204 : 201, {'content-length': 0})
    res.end()
  }

  private async propfind(r: DavRequest, v: string): Promise<void> {
    const depth = (r.req.headers.depth ?? 'infinity').toString().trim().toLowerCase()
    if (depth !== '0' && depth !== '1') throw new HttpError(403, 'Depth: infinity is not supported; use Depth 0 or 1', 'propfind-finite-depth')
    const body = hasBody(r.req) ? await readBody(r.req) : ''
    let mode: 'allprop' | 'propname' | 'prop' = 'allprop'
    let wanted: {ns: string; name: string}[] = []
    if (body.trim() !== '') {
      const doc = parseXml(body)
      if (doc.ns !== DAV || doc.name !== 'propfind') throw new HttpError(400, 'expected a DAV:propfind element')
      const prop = child(doc, DAV, 'prop')
      if (prop) {
        mode = 'prop'
        wanted = elements(prop).map((e) => ({ns: e.ns, name: e.name}))
      } else if (child(doc, DAV, 'propname')) mode = 'propname'
      else if (!child(doc, DAV, 'allprop')) throw new HttpError(400, 'propfind needs prop, propname or allprop')
    }
    const st = await r.session.stat(v)
    const targets: {v: string; st: FileStat}[] = [{v, st}]
    if (depth === '1' && st.isDirectory) for (const e of await r.session.list(v)) if (!(v === '/' && e.name === STATE_DIR)) targets.push({v: path.posix.join(v, e.name), st: e})
    const locks = await this.locks.all()
    const parts: string[] = []
    for (const t of targets) parts.push(await this.propResponse(r, t.v, t.st, mode, wanted, locks))
    this.multistatus(r.res, parts)
  }

  private multistatus(res: ServerResponse, parts: string[]): void {
    const text = xmlDoc(`<D:multistatus xmlns:D="DAV:">\n${parts.join('')}</D:multistatus>\n`)
    res.writeHead(207, {'content-type': 'application/xml; charset=utf-8', 'content-length': Buffer.byteLength(text)})
    res.end(text)
  }

  private lockXml(l: DavLock): string {
    return `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${l.scope}/></D:lockscope><D:depth>${l.depth === '0' ? '0' : 'infinity'}</D:depth>${l.owner}<D:timeout>Second-${Math.max(0, Math.round((l.expiresAt - Date.now()) / 1000))}</D:timeout><D:locktoken><D:href>${escapeXml(l.token)}</D:href></D:locktoken><D:lockroot><D:href>${escapeXml(hrefOf(l.root, false))}</D:href></D:lockroot></D:activelock>`
  }

  private liveProp(name: string, v: string, st: FileStat, locks: DavLock[], r: DavRequest): string | null {
    switch (name) {
      case 'resourcetype': return st.isDirectory ? '<D:resourcetype><D:collection/></D:resourcetype>' : '<D:resourcetype/>'
      case 'getcontentlength': return st.isDirectory ? null : `<D:getcontentlength>${st.size}</D:getcontentlength>`
      case 'getcontenttype': return st.isDirectory ? null : `<D:getcontenttype>${escapeXml(contentType(v))}</D:getcontenttype>`
      case 'getetag': return st.isDirectory ? null : `<D:getetag>${escapeXml(etagOf(st))}</D:getetag>`
      case 'getlastmodified': return `<D:getlastmodified>${st.mtime.toUTCString()}</D:getlastmodified>`
      case 'creationdate': return `<D:creationdate>${st.mtime.toISOString()}</D:creationdate>`
      case 'displayname': return `<D:displayname>${escapeXml(v === '/' ? '/' : path.posix.basename(v))}</D:displayname>`
      case 'supportedlock': return '<D:supportedlock><D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry><D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry></D:supportedlock>'
      case 'lockdiscovery': return `<D:lockdiscovery>${covering(locks, this.key(r, v)).map((l) => this.lockXml(l)).join('')}</D:lockdiscovery>`
      default: return null
    }
  }

  private async propResponse(r: DavRequest, v: string, st: FileStat, mode: 'allprop' | 'propname' | 'prop', wanted: {ns: string; name: string}[], locks: DavLock[]): Promise<string> {
    const dead = await this.props.get(this.key(r, v))
    const found: string[] = []
    const missing: string[] = []
    if (mode === 'propname') {
      for (const n of LIVE) if (this.liveProp(n, v, st, locks, r) !== null) found.push(`<D:${n}/>`)
      for (const d of dead) found.push(serializeElement({ns: d.ns, name: d.name, attrs: [], children: []}))
    } else if (mode === 'allprop') {
      for (const n of LIVE) {
        const x = this.liveProp(n, v, st, locks, r)
        if (x !== null) found.push(x)
      }
      for (const d of dead) found.push(d.xml)
    } else {
      for (const w of wanted) {
        const live = w.ns === DAV ? this.liveProp(w.name, v, st, locks, r) : null
        const d = live === null ? dead.find((p) => p.ns === w.ns && p.name === w.name) : undefined
        if (live !== null) found.push(live)
        else if (d) found.push(d.xml)
        else missing.push(serializeElement({ns: w.ns, name: w.name, attrs: [], children: []}))
      }
    }
    let out = `<D:response><D:href>${escapeXml(hrefOf(v, st.isDirectory))}</D:href>`
    if (found.length > 0 || missing.length === 0) out += `<D:propstat><D:prop>${found.join('')}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`
    if (missing.length > 0) out += `<D:propstat><D:prop>${missing.join('')}</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>`
    return out + '</D:response>\n'
  }

  private async proppatch(r: DavRequest, v: string): Promise<void> {
    const body = await readBody(r.req)
    const doc = parseXml(body)
    if (doc.ns !== DAV || doc.name !== 'propertyupdate') throw new HttpError(400, 'expected a DAV:propertyupdate element')
    const tokens = await this.conditions(r, v)
    const st = await r.session.stat(v)
    await this.checkLocks(r, v, tokens)
    if (!r.session.can('upload')) throw new HttpError(403, 'changing properties needs the "upload" permission')
    const ops: ({op: 'set'; prop: DeadProp} | {op: 'remove'; ns: string; name: string})[] = []
    const names: {ns: string; name: string; protectedLive: boolean}[] = []
    for (const action of elements(doc, DAV)) {
      if (action.name !== 'set' && action.name !== 'remove') continue
      const prop = child(action, DAV, 'prop')
      if (!prop) throw new HttpError(400, `${action.name} without a DAV:prop`)
      for (const p of elements(prop)) {
        const protectedLive = p.ns === DAV && LIVE.includes(p.name)
        names.push({ns: p.ns, name: p.name, protectedLive})
        if (protectedLive) continue
        if (action.name === 'set') ops.push({op: 'set', prop: {ns: p.ns, name: p.name, xml: serializeElement(p as XmlElement)}})
        else ops.push({op: 'remove', ns: p.ns, name: p.name})
      }
    }
    const anyProtected = names.some((n) => n.protectedLive)
    if (!anyProtected && ops.length > 0) await this.props.patch(this.key(r, v), ops)
    const tag = (n: {ns: string; name: string}) => serializeElement({ns: n.ns, name: n.name, attrs: [], children: []})
    const groups = anyProtected
      ? [
          [names.filter((n) => n.protectedLive), 'HTTP/1.1 403 Forbidden'],
          [names.filter((n) => !n.protectedLive), 'HTTP/1.1 424 Failed Dependency'],
        ] as const
      : ([[names, 'HTTP/1.1 200 OK']] as const)
    let out = `<D:response><D:href>${escapeXml(hrefOf(v, st.isDirectory))}</D:href>`
    for (const [list, status] of groups) if (list.length > 0) out += `<D:propstat><D:prop>${list.map(tag).join('')}</D:prop><D:status>${status}</D:status></D:propstat>`
    this.multistatus(r.res, [out + '</D:response>\n'])
  }

  private timeout(r: DavRequest): number {
    const h = (r.req.headers.timeout ?? '').toString()
    for (const part of h.split(',').map((x) => x.trim())) {
      const m = /^Second-(\d+)$/i.exec(part)
      if (m) return Math.max(1, Math.min(MAX_LOCK_SECONDS, Number(m[1])))
      if (/^Infinite$/i.test(part)) return MAX_LOCK_SECONDS
    }
    return DEFAULT_LOCK_SECONDS
  }

  private lockAnswer(r: DavRequest, l: DavLock, status: number, withHeader: boolean): void {
    const text = xmlDoc(`<D:prop xmlns:D="DAV:"><D:lockdiscovery>${this.lockXml(l)}</D:lockdiscovery></D:prop>\n`)
    const headers: Record<string, string | number> = {'content-type': 'application/xml; charset=utf-8', 'content-length': Buffer.byteLength(text)}
    if (withHeader) headers['lock-token'] = `<${l.token}>`
    r.res.writeHead(status, headers)
    r.res.end(text)
  }

  private async lock(r: DavRequest, v: string): Promise<void> {
    const body = hasBody(r.req) ? await readBody(r.req) : ''
    const seconds = this.timeout(r)
    if (body.trim() === '') {
      // refresh: the token comes in the If header
      const header = r.req.headers.if
      if (typeof header !== 'string') throw new HttpError(400, 'LOCK without a body refreshes a lock: send its token in the If header')
      const tokens = submittedTokens(parseIfHeader(header))
      for (const t of tokens) {
        const l = await this.locks.refresh(t, this.key(r, v), r.user.name, seconds)
        if (l) return this.lockAnswer(r, l, 200, false)
      }
      throw new HttpError(412, 'no lock with that token covers this resource', 'lock-token-matches-request-uri')
    }
    const doc = parseXml(body)
    if (doc.ns !== DAV || doc.name !== 'lockinfo') throw new HttpError(400, 'expected a DAV:lockinfo element')
    const scopeEl = child(doc, DAV, 'lockscope')
    const scope = scopeEl && child(scopeEl, DAV, 'shared') ? 'shared' : scopeEl && child(scopeEl, DAV, 'exclusive') ? 'exclusive' : null
    if (!scope) throw new HttpError(400, 'lockscope must be exclusive or shared')
    const typeEl = child(doc, DAV, 'locktype')
    if (!typeEl || !child(typeEl, DAV, 'write')) throw new HttpError(400, 'only write locks exist')
    const ownerEl = child(doc, DAV, 'owner')
    const depthHeader = (r.req.headers.depth ?? 'infinity').toString().trim().toLowerCase()
    if (depthHeader !== '0' && depthHeader !== 'infinity') throw new HttpError(400, 'LOCK Depth must be 0 or infinity')
    const tokens = await this.conditions(r, v)
    let st = await this.statOrNull(r, v)
    const created = st === null
    if (created) {
      const parent = await this.statOrNull(r, path.posix.dirname(v))
      if (!parent || !parent.isDirectory) throw new HttpError(409, 'the parent collection does not exist')
      await this.checkLocks(r, v, tokens, {parent: true})
    }
    const l = await this.locks.lock({
      root: this.key(r, v),
      depth: depthHeader === '0' || (st !== null && !st.isDirectory) ? '0' : 'infinity',
      scope,
      owner: ownerEl ? serializeElement(ownerEl) : '',
      user: r.user.name,
      timeoutSeconds: seconds,
    })
    if (created) {
      // a LOCK on an unmapped URL creates an empty resource (RFC 4918 §7.3)
      try {
        const up = await r.session.openWrite(v)
        await up.commit()
        st = await r.session.stat(v)
      } catch (error) {
        await this.locks.unlock(l.token, l.root, r.user.name)
        throw error
      }
    }
    this.lockAnswer(r, l, created ? 201 : 200, true)
  }

  private async unlock(r: DavRequest, v: string): Promise<void> {
    const h = (r.req.headers['lock-token'] ?? '').toString().trim()
    const m = /^<(.+)>$/.exec(h)
    if (!m) throw new HttpError(400, 'Lock-Token header missing or not <token>')
    const result = await this.locks.unlock(m[1], this.key(r, v), r.user.name)
    if (result === 'no-such-lock') throw new HttpError(409, 'no such lock on this resource', 'lock-token-matches-request-uri')
    if (result === 'not-owner') throw new HttpError(403, 'the lock belongs to another user')
    r.res.writeHead(204)
    r.res.end()
  }
}

