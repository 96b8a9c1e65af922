// The jail's virtual paths: "/" is the user's home; client paths are normalised here, then resolved beneath
// the home by `beneath.ts`, one descriptor-relative step at a time.
import {fileError} from './file-errors.js'

/**
 * Normalises a client path against `cwd` into a virtual absolute path. `..` stops at the root (as in a
 * chroot); NUL bytes and backslashes are refused; `%2e%2e` and the like are ordinary names.
 */
export function normalizeVirtual(clientPath: string, cwd = '/'): string {
  if (clientPath.includes('\0') || cwd.includes('\0')) throw fileError('invalid-path', '(path)', 'path contains a NUL byte')
  if (clientPath.includes('\\') || cwd.includes('\\')) throw fileError('invalid-path', clientPath, 'backslashes are not allowed in paths')
  const input = clientPath.startsWith('/') ? clientPath : `${cwd}/${clientPath}`
  const out: string[] = []
  for (const seg of input.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') out.pop()
    else out.push(seg)
  }
  return '/' + out.join('/')
}

/** Components of a normalised virtual path ("/" has none). */
export function components(virtualPath: string): string[] {
  return virtualPath.split('/').filter((c) => c !== '')
}
