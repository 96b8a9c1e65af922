// The change between two configurations as a small patch (delta sync): objects member by member, arrays of
// named entries (users, admin users, servers, …) entry by entry, addressed by their name rather than by an
// index, so adding one user to 50,000 is one `insert` of a few hundred bytes. Other arrays are replaced whole.
// Applying copies only the containers on the patched paths: the rest is shared with the base (never mutated).

/** Selects the entry of a keyed array whose field (the one key) has this value: `{"name": "alice"}`. */
export type Selector = Record<string, string>
/** A step into a document: an object member, an array index, or a keyed array entry. */
export type PathSegment = string | number | Selector

export type PatchOp =
  /** Sets an object member (added or replaced) or replaces an array entry. */
  | {op: 'set'; path: PathSegment[]; value: unknown}
  /** Removes an object member or a keyed array entry. */
  | {op: 'remove'; path: PathSegment[]}
  /** Inserts `value` into the keyed array at `path`, after the entry `after` (first when null). */
  | {op: 'insert'; path: PathSegment[]; after: Selector | null; value: unknown}

/** A patch the target cannot be made from (the base is not the one it was made against). */
export class PatchError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PatchError'
  }
}

/** The fields that name the entries of an array, in the order they are tried. */
const KEY_FIELDS = ['name', 'nodeId', 'id'] as const

type Json = unknown
type JsonObject = Record<string, Json>

const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Deep equality of JSON values (object member order ignored, as the content hash does). */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false
    return true
  }
  if (isObject(a)) {
    if (!isObject(b)) return false
    const ka = Object.keys(a)
    if (ka.length !== Object.keys(b).length) return false
    for (const k of ka) if (!(k in b) || !jsonEqual(a[k], b[k])) return false
    return true
  }
  return false
}

/** The field naming every entry of both arrays uniquely, if there is one. */
function keyFieldOf(a: Json[], b: Json[]): string | undefined {
  if (a.length + b.length === 0) return undefined
  for (const field of KEY_FIELDS) {
    const ok = (list: Json[]) => {
      const seen = new Set<string>()
      for (const e of list) {
        if (!isObject(e) || typeof e[field] !== 'string' || seen.has(e[field] as string)) return false
        seen.add(e[field] as string)
      }
      return true
    }
    if (ok(a) && ok(b)) return field
  }
  return undefined
}

/** The operations that turn `base` into `target` (both JSON objects); empty when they are equal. */
export function diffConfig(base: Json, target: Json): PatchOp[] {
  const ops: PatchOp[] = []
  diffValue(base, target, [], ops)
  return ops
}

function diffValue(a: Json, b: Json, path: PathSegment[], ops: PatchOp[]): void {
  if (a === b) return
  if (isObject(a) && isObject(b)) {
    for (const k of Object.keys(a)) if (!(k in b)) ops.push({op: 'remove', path: [...path, k]})
    for (const k of Object.keys(b)) {
      if (!(k in a)) ops.push({op: 'set', path: [...path, k], value: b[k]})
      else diffValue(a[k], b[k], [...path, k], ops)
    }
    return
  }
  if (Array.isArray(a) && Array.isArray(b) && path.length > 0) {
    if (Math.min(a.length, b.length) >= LARGE && diffLarge(a, b, path, ops)) return
    const field = keyFieldOf(a, b)
    if (field && diffKeyed(a as JsonObject[], b as JsonObject[], field, path, ops)) return
    if (!field && a.length === b.length && a.length > 0) {
      for (let i = 0; i < a.length; i++) diffValue(a[i], b[i], [...path, i], ops)
      return
    }
  }
  if (!jsonEqual(a, b)) {
    if (path.length === 0) throw new PatchError('the documents are not objects')
    ops.push({op: 'set', path, value: b})
  }
}

/** Arrays made by copying another and changing a few entries (applyPatch, validation): the one they came from. */
const parents = new WeakMap<readonly unknown[], readonly unknown[]>()

/** Records that `child` was made from `parent` (so encodings of it can start from the parent's). */
export function noteParent(child: readonly unknown[], parent: readonly unknown[]): void {
  if (child !== parent) parents.set(child, parent)
}

export function parentOf(child: readonly unknown[]): readonly unknown[] | undefined {
  return parents.get(child)
}

/** The lengths of the common prefix and suffix of two arrays, by identity (what a change left in place). */
export function sharedEnds(a: readonly unknown[], b: readonly unknown[]): {p: number; s: number} {
  // A change asks this of the same pair several times (validation, size, hash, diffs): the last few are kept.
  for (const e of endsSeen) if (e.a === a && e.b === b) return e.ends
  const ends = scanEnds(a, b)
  endsSeen.unshift({a, b, ends})
  if (endsSeen.length > 16) endsSeen.pop()
  return ends
}
const endsSeen: {a: readonly unknown[]; b: readonly unknown[]; ends: {p: number; s: number}}[] = []

function scanEnds(a: readonly unknown[], b: readonly unknown[]): {p: number; s: number} {
  const max = Math.min(a.length, b.length)
  let p = 0
  while (p < max && a[p] === b[p]) p++
  let s = 0
  while (s < max - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++
  return {p, s}
}

/** Arrays known to name their entries uniquely by a field (validated users): their diffs skip the check. */
const uniqueBy = new WeakMap<readonly unknown[], string>()

/** Records that every entry of `list` has a distinct string `field` (the caller checked it). */
export function markUniqueBy(list: readonly unknown[], field: (typeof KEY_FIELDS)[number]): void {
  uniqueBy.set(list, field)
}

/** Arrays from this length on are diffed around the entries they share (a change to a large directory). */
const LARGE = 256

/**
 * A large keyed array that shares all but a few entries with its base (the same objects, as a change makes
 * them): only the part between the common prefix and suffix is compared, and the entries the patch names are
 * checked to be unique in both arrays. False (nothing pushed) when that does not hold: the general diff runs.
 */
function diffLarge(a: Json[], b: Json[], path: PathSegment[], ops: PatchOp[]): boolean {
  const {p, s} = sharedEnds(a, b)
  if (p === a.length && p === b.length) return true
  const midA = a.slice(p, a.length - s)
  const midB = b.slice(p, b.length - s)
  if (midA.length + midB.length > 512) return false
  // The entry before the middle anchors inserts; every entry named must be unique in both arrays.
  const edge = p > 0 ? [a[p - 1]] : []
  for (const field of KEY_FIELDS) {
    const named = [...midA, ...midB, ...edge]
    if (!named.every((e) => isObject(e) && typeof e[field] === 'string')) continue
    const keys = new Set(named.map((e) => (e as JsonObject)[field] as string))
    const unique = (list: Json[]) => {
      const seen = new Set<string>()
      for (const e of list) {
        const k = isObject(e) ? e[field] : undefined
        if (typeof k !== 'string' || !keys.has(k)) continue
        if (seen.has(k)) return false
        seen.add(k)
      }
      return true
    }
    if ((uniqueBy.get(a) !== field && !unique(a)) || (uniqueBy.get(b) !== field && !unique(b))) return false
    const mine: PatchOp[] = []
    const head = edge.length ? [edge[0] as JsonObject] : []
    if (!diffKeyed([...head, ...(midA as JsonObject[])], [...head, ...(midB as JsonObject[])], field, path, mine)) return false
    ops.push(...mine)
    return true
  }
  return false
}

/** Entry by entry; false (nothing pushed) when the entries both keep changed their order: replace it whole. */
function diffKeyed(a: JsonObject[], b: JsonObject[], field: string, path: PathSegment[], ops: PatchOp[]): boolean {
  const inA = new Map<string, number>()
  a.forEach((e, i) => inA.set(e[field] as string, i))
  const inB = new Set(b.map((e) => e[field] as string))
  let last = -1
  for (const e of b) {
    const i = inA.get(e[field] as string)
    if (i === undefined) continue
    if (i < last) return false
    last = i
  }
  const mine: PatchOp[] = []
  for (const e of a) if (!inB.has(e[field] as string)) mine.push({op: 'remove', path: [...path, {[field]: e[field] as string}]})
  let previous: Selector | null = null
  for (const e of b) {
    const key = e[field] as string
    const sel = {[field]: key}
    const i = inA.get(key)
    if (i === undefined) mine.push({op: 'insert', path, after: previous, value: e})
    else diffValue(a[i], e, [...path, sel], mine)
    previous = sel
  }
  ops.push(...mine)
  return true
}

/**
 * `base` with `ops` applied, sharing every untouched part with `base` (which is left as it is).
 * Throws PatchError when a path does not exist in `base` (a patch made against another document).
 */
export function applyPatch<T>(base: T, ops: PatchOp[]): T {
  if (!isObject(base)) throw new PatchError('the base is not an object')
  // Containers copied by this patch: each is copied once, then changed in place.
  const fresh = new WeakSet<object>()
  const own = <C extends object>(c: C): C => {
    if (fresh.has(c)) return c
    const copy = (Array.isArray(c) ? [...c] : {...c}) as C
    if (Array.isArray(c)) noteParent(copy as unknown[], c)
    fresh.add(copy)
    return copy
  }
  const root = own(base as JsonObject)
  for (const op of ops) {
    if (!op || typeof op !== 'object' || !Array.isArray(op.path)) throw new PatchError('malformed operation')
    const path = op.path
    const steps = op.op === 'insert' ? path : path.slice(0, -1)
    if (op.op !== 'insert' && path.length === 0) throw new PatchError(`${op.op} needs a path`)
    // Walk to the container the operation changes, copying each container on the way.
    let parent: JsonObject | Json[] = root
    for (const seg of steps) {
      const i = indexIn(parent, seg)
      const child = (parent as Record<string | number, Json>)[i]
      if (typeof child !== 'object' || child === null) throw new PatchError(`${describePath(path)}: no such container in the base`)
      const copy = own(child as object) as JsonObject | Json[]
      ;(parent as Record<string | number, Json>)[i] = copy
      parent = copy
    }
    if (op.op === 'insert') {
      if (!Array.isArray(parent)) throw new PatchError(`${describePath(path)}: not an array`)
      const at = op.after === null ? 0 : (indexIn(parent, op.after) as number) + 1
      parent.splice(at, 0, op.value)
      continue
    }
    const last = path[path.length - 1]
    if (op.op === 'set') {
      if (Array.isArray(parent)) parent[indexIn(parent, last) as number] = op.value
      else if (typeof last === 'string') parent[last] = op.value
      else throw new PatchError(`${describePath(path)}: not an object member`)
    } else if (op.op === 'remove') {
      if (Array.isArray(parent)) {
        if (typeof last !== 'object') throw new PatchError(`${describePath(path)}: only keyed entries are removed from arrays`)
        parent.splice(indexIn(parent, last) as number, 1)
      } else {
        if (typeof last !== 'string' || !(last in parent)) throw new PatchError(`${describePath(path)}: no such member in the base`)
        delete parent[last]
      }
    } else {
      throw new PatchError(`unknown operation ${JSON.stringify((op as {op: unknown}).op)}`)
    }
  }
  return root as T
}

/** Where the last selector matched in each array (a patch of many entries resolves each in O(1)). */
const hints = new WeakMap<Json[], number>()

/** The index or member name `seg` designates in `container`; throws when it is not there. */
function indexIn(container: JsonObject | Json[], seg: PathSegment): string | number {
  if (Array.isArray(container)) {
    if (typeof seg === 'number') {
      if (!Number.isInteger(seg) || seg < 0 || seg >= container.length) throw new PatchError(`index ${seg} out of range`)
      return seg
    }
    if (typeof seg === 'object' && seg !== null) {
      const entries = Object.entries(seg)
      if (entries.length !== 1 || typeof entries[0][1] !== 'string') throw new PatchError(`malformed selector ${JSON.stringify(seg)}`)
      const [field, value] = entries[0]
      // A patch names entries in document order: look next to the last one found before scanning.
      const hint = hints.get(container) ?? 0
      const at = (i: number) => i >= 0 && i < container.length && isObject(container[i]) && (container[i] as JsonObject)[field] === value
      const last = container.length - 1
      const i = at(hint) ? hint : at(hint + 1) ? hint + 1 : at(hint + 2) ? hint + 2 : at(last) ? last : container.findIndex((e) => isObject(e) && e[field] === value)
      if (i < 0) throw new PatchError(`no entry with ${field} "${value}" in the base`)
      hints.set(container, i)
      return i
    }
    throw new PatchError(`member "${String(seg)}" of an array`)
  }
  if (typeof seg !== 'string') throw new PatchError(`${JSON.stringify(seg)} of an object`)
  if (!Object.prototype.hasOwnProperty.call(container, seg)) throw new PatchError(`no member "${seg}" in the base`)
  return seg
}

function describePath(path: PathSegment[]): string {
  return '/' + path.map((s) => (typeof s === 'object' ? JSON.stringify(s) : String(s))).join('/')
}
