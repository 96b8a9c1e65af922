// URL ↔ virtual path for the WebDAV tree under /dav: every segment is percent-decoded once and checked;
// "..", ".", NUL, "/" or "\" inside a segment and the shared-state directory are refused, never normalised.
import {STATE_DIR} from './shared-state.js'

export const DAV_PREFIX = '/dav'

export class DavPathError extends Error {}

/** The virtual path ("/" = home) of a request path under /dav, or throws DavPathError. */
export function davPathOf(urlPath: string): string {
  // a fragment is never part of a request (RFC 9112): a raw "#" is refused, not cut off (it could name another resource)
  if (urlPath.includes('#')) throw new DavPathError('"#" in a request URL (encode it as %23)')
  const q = urlPath.indexOf('?')
  const p = q < 0 ? urlPath : urlPath.slice(0, q)
  if (p !== DAV_PREFIX && !p.startsWith(DAV_PREFIX + '/')) throw new DavPathError('not under /dav')
  const segs: string[] = []
  for (const raw of p.slice(DAV_PREFIX.length).split('/')) {
    if (raw === '') continue
    let seg: string
    try {
      seg = decodeURIComponent(raw)
    } catch {
      throw new DavPathError('bad percent-encoding in the URL')
    }
    if (seg === '.' || seg === '..' || /[\0/\\]/.test(seg)) throw new DavPathError(`path segment not allowed: ${JSON.stringify(seg)}`)
    if (segs.length === 0 && seg === STATE_DIR) throw new DavPathError('reserved name')
    segs.push(seg)
  }
  return '/' + segs.join('/')
}

/** The href of a virtual path (segments percent-encoded; collections end with "/"). */
export function hrefOf(virtualPath: string, collection: boolean): string {
  const enc = virtualPath.split('/').filter(Boolean).map((s) => encodeURIComponent(s)).join('/')
  const base = `${DAV_PREFIX}/${enc}`
  return collection && !base.endsWith('/') ? base + '/' : base
}

/** The path part of a Destination header (absolute URL or absolute path). */
export function destinationPath(header: string): string {
  if (header.startsWith('/')) return header
  try {
    return new URL(header).pathname
  } catch {
    throw new DavPathError('Destination is not a URL')
  }
}
