// The WebDAV If header (RFC 4918 §10.4): lists of conditions on lock tokens and entity tags, untagged
// (about the request URI) or tagged with a resource. Parsed here; evaluated by the handler.

export interface IfCondition {
  not: boolean
  token?: string
  etag?: string
}
export interface IfList {
  /** The tagged resource (a URL or path), or undefined for the request URI. */
  resource?: string
  conditions: IfCondition[]
}

export class IfHeaderError extends Error {}

export function parseIfHeader(header: string): IfList[] {
  const lists: IfList[] = []
  let i = 0
  let resource: string | undefined
  const ws = () => {
    while (i < header.length && /\s/.test(header[i])) i++
  }
  const until = (end: string) => {
    const j = header.indexOf(end, i)
    if (j < 0) throw new IfHeaderError(`If header: missing "${end}"`)
    const v = header.slice(i, j)
    i = j + 1
    return v
  }
  ws()
  while (i < header.length) {
    if (header[i] === '<') {
      i++
      resource = until('>')
      ws()
      if (header[i] !== '(') throw new IfHeaderError('If header: a resource tag must be followed by a list')
      continue
    }
    if (header[i] !== '(') throw new IfHeaderError(`If header: unexpected "${header[i]}"`)
    i++
    const conditions: IfCondition[] = []
    for (;;) {
      ws()
      if (header[i] === ')') {
        i++
        break
      }
      let not = false
      if (header.slice(i, i + 3).toLowerCase() === 'not') {
        not = true
        i += 3
        ws()
      }
      if (header[i] === '<') {
        i++
        conditions.push({not, token: until('>')})
      } else if (header[i] === '[') {
        i++
        conditions.push({not, etag: until(']').trim()})
      } else throw new IfHeaderError('If header: expected <state-token> or [etag]')
    }
    if (conditions.length === 0) throw new IfHeaderError('If header: empty list')
    lists.push({resource, conditions})
    ws()
  }
  if (lists.length === 0) throw new IfHeaderError('If header: no list')
  return lists
}

/** Every state token named in the header: the lock tokens the client submits. */
export function submittedTokens(lists: IfList[]): string[] {
  return lists.flatMap((l) => l.conditions.filter((c) => c.token !== undefined).map((c) => c.token!))
}
