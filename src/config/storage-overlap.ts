// The storage (what users can read) and the node's data directory (host key, cluster key, TLS key, the
// configuration) must not overlap: a user whose home is the storage root would download the keys.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {OperationError} from '../protocol/index.js'

function inside(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : parent + '/')
}

/**
 * Refuses a storage that contains the data directory (or is it), and a storage inside the data directory
 * other than its own `files/` (the default, where the node keeps nothing else). Paths are compared after
 * resolving symlinks, so a link cannot hide the overlap.
 */
export async function checkStorageSeparate(dataDir: string, storage: string): Promise<void> {
  const data = await fs.realpath(dataDir)
  const store = await fs.realpath(storage).catch(() => {
    throw new OperationError('invalid', `the storage ${storage} does not exist or cannot be read`, 'mount or create it (node.json "storage"), then start the node again')
  })
  const files = await fs.realpath(path.join(dataDir, 'files')).catch(() => path.join(data, 'files'))
  const hint = `use a storage directory outside ${data} (e.g. /srv/ftpcluster/files or a shared mount), or leave --storage out to use ${path.join(data, 'files')}`
  if (inside(store, data)) {
    throw new OperationError('invalid', `the storage ${store} contains the node's data directory ${data}: users could download its keys and configuration`, hint)
  }
  if (inside(data, store) && !inside(files, store)) {
    throw new OperationError('invalid', `the storage ${store} is inside the node's data directory ${data}`, hint)
  }
}
