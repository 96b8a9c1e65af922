// The configuration's two encodings, made fast for large user directories: the file text (JSON, 2-space
// indent, byte-for-byte JSON.stringify) and the content hash. Each user's part is computed once per user
// object and reused, because a change shares every untouched user object with the revision before it
// (configurations are never mutated). The hash is a two-level tree, so a one-user change costs a digest of
// 32 bytes per user instead of the whole canonical text:
//   sha256("ftpcluster-config/2\n" + canonical JSON of the document without "users" + "\n" + U)
//   U = sha256(d(users[0]) + d(users[1]) + …), d(u) = sha256(canonical JSON of u) (32 raw bytes each);
// without a "users" array U is absent. Canonical JSON sorts object members (canonical-json.ts).
import {createHash, type Hash} from 'node:crypto'
import {canonicalize} from './canonical-json.js'
import {parentOf, sharedEnds} from './config-patch.js'

export const HASH_FORMAT = 2

const pretty = new WeakMap<object, string>()
const prettyBytes = new WeakMap<object, number>()
const userDigests = new WeakMap<object, Buffer>()
const usersDigests = new WeakMap<object, Buffer>()
const texts = new WeakMap<object, string>()
const sizes = new WeakMap<object, number>()
const hashes = new WeakMap<object, string>()

type Doc = Record<string, unknown>

const MARK = '\n  "users": []'
const OPEN = '\n  "users": [\n    '
const SEP = ',\n    '
const CLOSE = '\n  ]'

/** A document whose `users` is an array of objects: the one large part of a configuration. */
function usersOf(doc: Doc): object[] | undefined {
  const users = doc.users
  if (!Array.isArray(users) || users.length < 64) return undefined
  if (objectArrays.has(users)) return users as object[]
  // Made from an array known to hold objects: only the entries that differ from it are looked at.
  const parent = parentOf(users)
  const {p, s} = parent && objectArrays.has(parent as unknown[]) ? sharedEnds(parent, users) : {p: 0, s: 0}
  for (let i = p; i < users.length - s; i++) {
    const u = users[i]
    if (typeof u !== 'object' || u === null || Array.isArray(u)) return undefined
  }
  objectArrays.add(users)
  return users as object[]
}
const objectArrays = new WeakSet<unknown[]>()

function prettyUser(u: object): string {
  let t = pretty.get(u)
  if (t === undefined) pretty.set(u, (t = JSON.stringify(u, null, 2).replace(/\n/g, '\n    ')))
  return t
}

/** The top level without the users' parts, and where they go in it. */
function frame(doc: Doc): {rest: string; at: number} {
  const rest = JSON.stringify({...doc, users: []}, null, 2)
  return {rest, at: rest.indexOf(MARK)}
}

/** JSON.stringify(doc, null, 2) + "\n", reusing each user's text. */
export function configText(value: object): string {
  const doc = value as Doc
  const known = texts.get(doc)
  if (known !== undefined) return known
  const users = usersOf(doc)
  let text: string
  const f = users ? frame(doc) : null
  if (!users || !f || f.at < 0) {
    text = JSON.stringify(doc, null, 2) + '\n'
  } else {
    text = `${f.rest.slice(0, f.at)}${OPEN}${users.map(prettyUser).join(SEP)}${CLOSE}${f.rest.slice(f.at + MARK.length)}\n`
  }
  texts.set(doc, text)
  return text
}

/** Buffer.byteLength(configText(doc)), without making the text (a size check of a 20 MB document). */
export function configSize(value: object): number {
  const doc = value as Doc
  const known = sizes.get(doc) ?? (texts.has(doc) ? Buffer.byteLength(texts.get(doc)!) : undefined)
  if (known !== undefined) return known
  const users = usersOf(doc)
  const f = users ? frame(doc) : null
  let size: number
  if (!users || !f || f.at < 0) {
    size = Buffer.byteLength(configText(doc))
  } else {
    size = Buffer.byteLength(f.rest) - MARK.length + OPEN.length + (users.length - 1) * SEP.length + CLOSE.length + 1 + usersBytes(users)
  }
  sizes.set(doc, size)
  return size
}

function digestOf(value: unknown): Buffer {
  const isObj = typeof value === 'object' && value !== null
  if (isObj) {
    const known = userDigests.get(value)
    if (known) return known
  }
  const d = createHash('sha256').update(JSON.stringify(canonicalize(value)) ?? 'undefined').digest()
  if (isObj) userDigests.set(value as object, d)
  return d
}

/**
 * Users arrays lately hashed or sized: their digests in chunks, the hash state after every CHUNK entries
 * (so a successor resumes where it starts to differ), and their text size. A new array that shares all but a
 * few entries with one of them (a change) is computed from it, touching only the entries that differ.
 */
interface Known {
  users: readonly unknown[]
  /** The users' digests, CHUNK to a buffer (shared by arrays that share the chunk). */
  digests?: Buffer[]
  /** marks[j]: the state after the digests of entries [0, j·CHUNK); never updated in place (copied first). */
  marks?: Hash[]
  bytes?: number
}
const recent: Known[] = []
const RECENT = 6
const CHUNK = 1024

/** The recent array `users` is made from, with the lengths of their common prefix and suffix (identity). */
function relative(users: readonly unknown[], want: 'digests' | 'bytes'): {base: Known; p: number; s: number} | null {
  // Its lineage first (applyPatch and validation record it): one comparison instead of one per recent array.
  for (let a = parentOf(users), depth = 0; a && depth < 4; a = parentOf(a), depth++) {
    const k = recent.find((r) => r.users === a && r[want] !== undefined)
    if (!k) continue
    const {p, s} = sharedEnds(a, users)
    if (users.length - p - s <= 1024) return {base: k, p, s}
  }
  let best: {base: Known; p: number; s: number} | null = null
  for (const k of recent) {
    if (k[want] === undefined) continue
    const {p, s} = sharedEnds(k.users, users)
    if (!best || p + s > best.p + best.s) best = {base: k, p, s}
    if (users.length - p - s <= 8) break // the one it was made from
  }
  // Worth it only when nearly everything is shared.
  return best && users.length - best.p - best.s <= 1024 ? best : null
}

function known(users: readonly unknown[]): Known {
  let k = recent.find((r) => r.users === users)
  if (!k) {
    k = {users}
    recent.unshift(k)
    if (recent.length > RECENT) recent.pop()
  }
  return k
}

/** U for `users`: from the recent array it was made from, hashing only from the first chunk that differs. */
function usersDigest(users: unknown[]): Buffer {
  const cached = usersDigests.get(users)
  if (cached) return cached
  const n = users.length
  const chunks = Math.ceil(n / CHUNK)
  const rel = relative(users, 'digests')
  const digests: Buffer[] = new Array(chunks)
  let marks: Hash[] = [createHash('sha256')]
  let first = 0
  if (rel?.base.marks && rel.base.digests) {
    // Chunks before the first difference are the base's (the same buffers); so are those after the last one
    // when nothing moved (as many entries as before).
    first = Math.floor(rel.p / CHUNK)
    const base = rel.base.digests
    for (let j = 0; j < first; j++) digests[j] = base[j]
    if (rel.base.users.length === n) {
      const last = Math.floor((n - rel.s - 1) / CHUNK)
      for (let j = last + 1; j < chunks; j++) digests[j] = base[j]
    }
    marks = rel.base.marks.slice(0, first + 1)
  }
  for (let j = first; j < chunks; j++) {
    if (digests[j]) continue
    const from = j * CHUNK
    const to = Math.min(n, from + CHUNK)
    const chunk = Buffer.allocUnsafeSlow((to - from) * 32)
    for (let i = from; i < to; i++) digestOf(users[i]).copy(chunk, (i - from) * 32)
    digests[j] = chunk
  }
  // Resume at the mark of the first chunk that differs; record a mark at each chunk boundary after it.
  const h = marks[marks.length - 1].copy()
  for (let j = marks.length - 1; j < chunks; j++) {
    h.update(digests[j])
    if (j + 1 < chunks) marks.push(h.copy())
  }
  const d = h.digest()
  const k = known(users)
  k.digests = digests
  k.marks = marks
  usersDigests.set(users, d)
  return d
}

const userBytes = (u: object): number => {
  let n = prettyBytes.get(u)
  if (n === undefined) prettyBytes.set(u, (n = Buffer.byteLength(prettyUser(u))))
  return n
}

/** The sum of the users' text sizes, from a recent array when it shares nearly all of them. */
function usersBytes(users: object[]): number {
  const k = recent.find((r) => r.users === users)
  if (k?.bytes !== undefined) return k.bytes
  const rel = relative(users, 'bytes')
  let sum = 0
  if (rel) {
    const a = rel.base.users as object[]
    sum = rel.base.bytes!
    for (let i = rel.p; i < a.length - rel.s; i++) sum -= userBytes(a[i])
    for (let i = rel.p; i < users.length - rel.s; i++) sum += userBytes(users[i])
  } else {
    for (const u of users) sum += userBytes(u)
  }
  known(users).bytes = sum
  return sum
}

/** The content hash of a configuration (format 2, above); equal documents hash equal whatever their member order. */
export function configHash(value: object): string {
  const doc = value as Doc
  const known = hashes.get(doc)
  if (known !== undefined) return known
  const h = createHash('sha256').update(`ftpcluster-config/${HASH_FORMAT}\n`)
  const {users, ...rest} = doc
  h.update(JSON.stringify(canonicalize(rest)))
  h.update('\n')
  if (Array.isArray(users)) h.update(usersDigest(users))
  const hash = h.digest('hex')
  hashes.set(doc, hash)
  return hash
}
