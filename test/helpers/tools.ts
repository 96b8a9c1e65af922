// External clients the tests drive; a missing one skips its tests with a notice naming it.
import {spawnSync} from 'node:child_process'

const cache = new Map<string, boolean>()

export function hasTool(name: string): boolean {
  if (!cache.has(name)) cache.set(name, spawnSync('sh', ['-c', `command -v ${name}`]).status === 0)
  return cache.get(name)!
}

/** A `skip` option for node:test: false when present, else a message naming the tool. */
export function needs(...tools: string[]): string | false {
  const missing = tools.filter((t) => !hasTool(t))
  if (missing.length === 0) return false
  const message = `skipped: ${missing.join(', ')} not installed (apt-get install ${missing.join(' ')}; .ci/run installs them)`
  process.stderr.write(`NOTICE ${message}\n`)
  return message
}
