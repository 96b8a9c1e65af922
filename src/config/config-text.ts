// The configuration's two encodings, made fast for large user directories: the file text (JSON, 2-space
// indent) and the content hash (sha256 of the canonical JSON). Both are byte-for-byte what JSON.stringify
// and contentHash() give; each user's part is computed once per user object and reused, because a change
// shares every untouched user object with the revision before it (configurations are never mutated).
import {createHash} from 'node:crypto'
import {canonicalize} from './canonical-json.js'

const pretty = new WeakMap<object, string>()
const canonical = new WeakMap<object, string>()
const texts = new WeakMap<object, string>()
const hashes = new WeakMap<object, string>()

type Doc = Record<string, unknown>

/** A document whose `users` is an array of objects: the one large part of a configuration. */
function usersOf(doc: Doc): object[] | undefined {
  const users = doc.users
  if (!Array.isArray(users) || users.length < 64 || !users.every((u) => typeof u === 'object' && u !== null && !Array.isArray(u))) return undefined
  return users as object[]
}

/** JSON.stringify(doc, null, 2) + "\n", reusing each user's text. */
export function configText(value: object): string {
  const doc = value as Doc
  const known = texts.get(doc)
  if (known !== undefined) return known
  const users = usersOf(doc)
  let text: string
  if (!users) {
    text = JSON.stringify(doc, null, 2) + '\n'
  } else {
    const rest = JSON.stringify({...doc, users: []}, null, 2)
    const mark = '\n  "users": []'
    const at = rest.indexOf(mark)
    const parts = users.map((u) => {
      let t = pretty.get(u)
      if (t === undefined) pretty.set(u, (t = JSON.stringify(u, null, 2).replace(/\n/g, '\n    ')))
      return t
    })
    text = at < 0 ? JSON.stringify(doc, null, 2) + '\n' : `${rest.slice(0, at)}\n  "users": [\n    ${parts.join(',\n    ')}\n  ]${rest.slice(at + mark.length)}\n`
  }
  texts.set(doc, text)
  return text
}

/** contentHash(doc): sha256 of the canonical JSON (sorted keys), reusing each user's canonical text. */
export function configHash(value: object): string {
  const doc = value as Doc
  const known = hashes.get(doc)
  if (known !== undefined) return known
  const users = usersOf(doc)
  const h = createHash('sha256')
  if (!users) {
    h.update(JSON.stringify(canonicalize(doc)))
  } else {
    // The canonical text of the top level, member by member in sorted order, as JSON.stringify writes it.
    h.update('{')
    let first = true
    for (const k of Object.keys(doc).sort()) {
      const v = doc[k]
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue
      h.update(`${first ? '' : ','}${JSON.stringify(k)}:`)
      first = false
      if (k !== 'users') {
        h.update(JSON.stringify(canonicalize(v)))
        continue
      }
      // One update of the joined text: an update per user costs more than the copy.
      const parts = users.map((u) => {
        let t = canonical.get(u)
        if (t === undefined) canonical.set(u, (t = JSON.stringify(canonicalize(u))))
        return t
      })
      h.update(`[${parts.join(',')}]`)
    }
    h.update('}')
  }
  const hash = h.digest('hex')
  hashes.set(doc, hash)
  return hash
}
