// The jail: virtual paths ("/" is the user's home) map onto <storage>/<home>, and every real path an
// operation touches is checked, after resolving symlinks, to stay inside the home.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {fileError, toFileError} from './file-errors.js'
import {isPartName} from './part-file.js'

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

/** Where a new or replaced entry goes: its real parent (verified) and its real path (final part not followed). */
export interface EntryLocation {
  virtualPath: string
  parent: string
  name: string
  real: string
}

export class PathJail {
  private constructor(readonly root: string) {}

  /** Creates the home (0755) on first use and pins its real path; refuses a home that leaves the storage. */
  static async open(storage: string, home: string): Promise<PathJail> {
    const storageReal = await fs.realpath(storage)
    const lexical = path.join(storageReal, normalizeVirtual(home))
    await fs.mkdir(lexical, {recursive: true, mode: 0o755})
    const root = await fs.realpath(lexical)
    if (root !== storageReal && !root.startsWith(storageReal + path.sep)) {
      throw fileError('permission', home, 'home resolves outside the storage root')
    }
    return new PathJail(root)
  }

  contains(real: string): boolean {
    return real === this.root || real.startsWith(this.root + path.sep)
  }

  /** Real path of an existing entry, symlinks resolved and contained. */
  async existing(virtualPath: string): Promise<string> {
    let real: string
    try {
      real = await fs.realpath(path.join(this.root, virtualPath))
    } catch (error) {
      throw toFileError(error, virtualPath)
    }
    if (!this.contains(real)) throw fileError('permission', virtualPath, 'leads outside the home directory')
    return real
  }

  /**
   * Location of an entry to create, replace or remove: the parent is resolved and contained; the final
   * component is not followed, but if it is a symlink its target must be inside too (a dangling one is refused).
   */
  async entry(virtualPath: string): Promise<EntryLocation> {
    if (virtualPath === '/') throw fileError('permission', virtualPath, 'the home directory itself cannot be changed')
    const name = path.posix.basename(virtualPath)
    if (isPartName(name)) throw fileError('invalid-path', virtualPath, 'name reserved for uploads in progress')
    const parent = await this.existing(path.posix.dirname(virtualPath))
    const real = path.join(parent, name)
    const st = await fs.lstat(real).catch(() => null)
    if (st?.isSymbolicLink()) {
      const target = await fs.realpath(real).catch(() => null)
      if (target === null || !this.contains(target)) throw fileError('permission', virtualPath, 'symlink leads outside the home directory')
    }
    return {virtualPath, parent, name, real}
  }
}
