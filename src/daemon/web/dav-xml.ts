// A small XML reader for WebDAV request bodies and a writer for responses. Safe by construction: no DTDs
// (a DOCTYPE is refused, so no external or recursive entities), only the five predefined entities and
// character references, bounded size and depth. Names are resolved to (namespace, local name).

export interface XmlElement {
  ns: string
  name: string
  attrs: {ns: string; name: string; value: string}[]
  children: XmlNode[]
}
export type XmlNode = XmlElement | string

export class XmlError extends Error {}

const MAX_BYTES = 1024 * 1024
const MAX_DEPTH = 64
const NAME = /^[A-Za-z_\u00C0-\uFFFF][-A-Za-z0-9._:\u00B7\u00C0-\uFFFF]*/u
const ENTITIES: Record<string, string> = {lt: '<', gt: '>', amp: '&', quot: '"', apos: "'"}
const XML_NS = 'http://www.w3.org/XML/1998/namespace'

function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new XmlError('bare "&" in text')
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10)
      if (!Number.isFinite(code) || code > 0x10ffff || code === 0) throw new XmlError(`bad character reference ${m}`)
      return String.fromCodePoint(code)
    }
    const v = ENTITIES[ref]
    if (v === undefined) throw new XmlError(`undefined entity ${m} (DTDs are not accepted)`)
    return v
  })
}

/** Parses a document; throws XmlError on anything not well-formed or not namespace-well-formed. */
export function parseXml(text: string): XmlElement {
  if (text.length > MAX_BYTES) throw new XmlError('request body too large')
  let i = 0
  const s = text.replace(/^\uFEFF/, '')
  const skipMisc = () => {
    for (;;) {
      const ws = /^\s*/.exec(s.slice(i))![0].length
      i += ws
      if (s.startsWith('<?', i)) {
        const end = s.indexOf('?>', i)
        if (end < 0) throw new XmlError('unterminated processing instruction')
        i = end + 2
      } else if (s.startsWith('<!--', i)) {
        const end = s.indexOf('-->', i)
        if (end < 0) throw new XmlError('unterminated comment')
        i = end + 3
      } else if (s.startsWith('<!', i)) {
        throw new XmlError('DOCTYPE and DTDs are not accepted')
      } else return
    }
  }
  const parseElement = (scope: Map<string, string>, depth: number): XmlElement => {
    if (depth > MAX_DEPTH) throw new XmlError('nesting too deep')
    if (s[i] !== '<') throw new XmlError(`expected an element at offset ${i}`)
    i++
    const qm = NAME.exec(s.slice(i))
    if (!qm) throw new XmlError(`bad element name at offset ${i}`)
    const qname = qm[0]
    i += qname.length
    const rawAttrs: [string, string][] = []
    for (;;) {
      const ws = /^\s*/.exec(s.slice(i))![0].length
      i += ws
      if (s.startsWith('/>', i) || s[i] === '>') break
      if (ws === 0) throw new XmlError(`expected whitespace before an attribute at offset ${i}`)
      const am = NAME.exec(s.slice(i))
      if (!am) throw new XmlError(`bad attribute at offset ${i}`)
      i += am[0].length
      const eq = /^\s*=\s*(["'])/.exec(s.slice(i))
      if (!eq) throw new XmlError(`attribute ${am[0]} has no quoted value`)
      i += eq[0].length
      const end = s.indexOf(eq[1], i)
      if (end < 0) throw new XmlError('unterminated attribute value')
      const raw = s.slice(i, end)
      if (raw.includes('<')) throw new XmlError('"<" in an attribute value')
      if (rawAttrs.some(([n]) => n === am[0])) throw new XmlError(`duplicate attribute ${am[0]}`)
      rawAttrs.push([am[0], decodeText(raw)])
      i = end + 1
    }
    const local = new Map(scope)
    for (const [n, v] of rawAttrs) {
      if (n === 'xmlns') local.set('', v)
      else if (n.startsWith('xmlns:')) {
        const prefix = n.slice(6)
        // Namespaces in XML 1.0: a prefix cannot be bound to the empty name
        if (v === '') throw new XmlError(`namespace prefix "${prefix}" bound to an empty name`)
        local.set(prefix, v)
      }
    }
    const resolve = (q: string, isAttr: boolean): {ns: string; name: string} => {
      const colon = q.indexOf(':')
      if (colon < 0) return {ns: isAttr ? '' : (local.get('') ?? ''), name: q}
      const prefix = q.slice(0, colon)
      const name = q.slice(colon + 1)
      if (prefix === 'xml') return {ns: XML_NS, name}
      const ns = local.get(prefix)
      if (ns === undefined) throw new XmlError(`undeclared namespace prefix "${prefix}"`)
      if (name === '' || name.includes(':')) throw new XmlError(`bad name "${q}"`)
      return {ns, name}
    }
    const el: XmlElement = {...resolve(qname, false), attrs: [], children: []}
    for (const [n, v] of rawAttrs) if (n !== 'xmlns' && !n.startsWith('xmlns:')) el.attrs.push({...resolve(n, true), value: v})
    if (s.startsWith('/>', i)) {
      i += 2
      return el
    }
    i++
    for (;;) {
      if (i >= s.length) throw new XmlError(`element ${qname} is not closed`)
      if (s.startsWith('</', i)) {
        i += 2
        const cm = /^([^\s>]+)\s*>/.exec(s.slice(i))
        if (!cm || cm[1] !== qname) throw new XmlError(`mismatched end tag, expected </${qname}>`)
        i += cm[0].length
        return el
      }
      if (s.startsWith('<!--', i)) {
        const end = s.indexOf('-->', i)
        if (end < 0) throw new XmlError('unterminated comment')
        i = end + 3
      } else if (s.startsWith('<![CDATA[', i)) {
        const end = s.indexOf(']]>', i)
        if (end < 0) throw new XmlError('unterminated CDATA')
        el.children.push(s.slice(i + 9, end))
        i = end + 3
      } else if (s.startsWith('<?', i)) {
        const end = s.indexOf('?>', i)
        if (end < 0) throw new XmlError('unterminated processing instruction')
        i = end + 2
      } else if (s.startsWith('<!', i)) {
        throw new XmlError('markup declarations are not accepted')
      } else if (s[i] === '<') {
        el.children.push(parseElement(local, depth + 1))
      } else {
        const end = s.indexOf('<', i)
        const raw = s.slice(i, end < 0 ? s.length : end)
        el.children.push(decodeText(raw))
        i += raw.length
      }
    }
  }
  skipMisc()
  const root = parseElement(new Map(), 0)
  skipMisc()
  if (i < s.length) throw new XmlError('content after the document element')
  return root
}

export const DAV = 'DAV:'

export function elements(el: XmlElement, ns?: string, name?: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string' && (ns === undefined || c.ns === ns) && (name === undefined || c.name === name))
}
export function child(el: XmlElement, ns: string, name: string): XmlElement | undefined {
  return elements(el, ns, name)[0]
}
export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('')
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({'<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;'})[c]!)
}

/**
 * Writes an element with explicit namespace declarations (each element declares its own default namespace,
 * attributes in a namespace get a local prefix), so a dead property round-trips whatever prefixes it came with.
 */
export function serializeElement(el: XmlElement, parentNs: string | null = null): string {
  let out = `<${el.name}`
  if (el.ns !== parentNs) out += ` xmlns="${escapeXml(el.ns)}"`
  el.attrs.forEach((a, n) => {
    if (a.ns === '') out += ` ${a.name}="${escapeXml(a.value)}"`
    else if (a.ns === XML_NS) out += ` xml:${a.name}="${escapeXml(a.value)}"`
    else out += ` xmlns:a${n}="${escapeXml(a.ns)}" a${n}:${a.name}="${escapeXml(a.value)}"`
  })
  if (el.children.length === 0) return out + '/>'
  out += '>'
  for (const c of el.children) out += typeof c === 'string' ? escapeXml(c) : serializeElement(c, el.ns)
  return out + `</${el.name}>`
}
