// Dotted paths into the configuration (`sites.files.proxyProtocol.enabled`, `users[0].home`, `users.alice.home`)
// for `config get` and `config set`. The schema validator on the node decides what is valid and names the field.
import {OperationError} from '../protocol/index.js'

/** Fields the cluster manages itself: a write is refused (or ignored) by the node, so say it here. */
const MANAGED = new Set(['clusterId', 'epoch', 'primary', 'revision', 'servers', 'lastChange', 'schemaVersion'])

export function parsePath(text: string): (string | number)[] {
  const parts: (string | number)[] = []
  for (const raw of text.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(raw)
    if (!m || (m[1] === '' && m[2] === '')) throw new OperationError('invalid', `PATH: malformed "${text}"`, 'use dots and [index], e.g. sites.files.proxyProtocol.enabled or users[0].home')
    if (m[1] !== '') parts.push(m[1])
    for (const i of m[2].matchAll(/\[(\d+)\]/g)) parts.push(Number(i[1]))
  }
  return parts
}

/** VALUE as JSON when it parses (true, 8080, ["10.0.0.5/32"], {"a":1}), else the string itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** A list of named entries (users, adminUsers) may be addressed by name: `users.alice.home`. */
function child(node: unknown, key: string | number): {found: boolean; value: unknown; key: string | number} {
  if (Array.isArray(node) && typeof key === 'string') {
    const i = node.findIndex((e) => (e as {name?: unknown})?.name === key)
    return i >= 0 ? {found: true, value: node[i], key: i} : {found: false, value: undefined, key}
  }
  if (node !== null && typeof node === 'object' && Object.hasOwn(node, key)) return {found: true, value: (node as Record<string | number, unknown>)[key], key}
  return {found: false, value: undefined, key}
}

export function getPath(doc: unknown, text: string): unknown {
  return walk(doc, parsePath(text), text)
}

function walk(doc: unknown, parts: (string | number)[], text: string): unknown {
  let node = doc
  const done: string[] = []
  for (const key of parts) {
    const c = child(node, key)
    if (!c.found) throw new OperationError('invalid', `no setting "${text}": ${done.length ? `"${done.join('.')}"` : 'the configuration'} has no "${key}"`, keysHint(node))
    node = c.value
    done.push(String(key))
  }
  return node
}

/** Sets the value in place; the parent must exist (a typo is an error, not a new branch). */
export function setPath(doc: Record<string, unknown>, text: string, value: unknown): {previous: unknown} {
  const path = parsePath(text)
  if (MANAGED.has(String(path[0]))) {
    throw new OperationError('invalid', `"${path[0]}" is managed by the cluster and cannot be set`, 'membership changes with add-server, remove-server and promote; revisions with every change')
  }
  const parent = walk(doc, path.slice(0, -1), text)
  if (parent === null || typeof parent !== 'object') throw new OperationError('invalid', `cannot set "${text}": its parent is not an object`)
  const c = child(parent, path[path.length - 1])
  const previous = c.value
  ;(parent as Record<string | number, unknown>)[c.key] = value
  return {previous}
}

function keysHint(node: unknown): string {
  if (Array.isArray(node)) return `it is a list of ${node.length}: use [0]…[${Math.max(0, node.length - 1)}]${node.some((e) => (e as {name?: unknown})?.name) ? ' or a name' : ''}`
  if (node !== null && typeof node === 'object') return `its fields: ${Object.keys(node).join(', ')}`
  return 'it is a value, not an object'
}
