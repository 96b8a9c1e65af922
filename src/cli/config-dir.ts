// Where the CLI keeps contexts and known host keys: CLUSTER_CONFIG_DIR, else the user's config dir.
// A small JSON store of our own (atomic write, mode 0600) instead of `conf`: loading conf and its schema
// validator cost more than the whole admin round trip (issue 13), and the file format is the same.
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {OperationError} from '../protocol/index.js'

export function cliConfigDir(fallback: string): string {
  return process.env.CLUSTER_CONFIG_DIR || fallback
}

export interface JsonStore<T extends Record<string, unknown>> {
  get<K extends keyof T>(key: K): T[K]
  set<K extends keyof T>(key: K, value: T[K]): void
  readonly path: string
}

/** A JSON store named `name` (`DIR/NAME.json`) in the CLI's config directory; read lazily, written atomically. */
export function openStore<T extends Record<string, unknown>>(dir: string, name: string, defaults: T): JsonStore<T> {
  const file = path.join(dir, `${name}.json`)
  let data: T | undefined
  const load = (): T => {
    if (data) return data
    try {
      data = {...defaults, ...(JSON.parse(readFileSync(file, 'utf8')) as Partial<T>)}
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new OperationError('invalid', `${file} is not readable JSON (${(error as Error).message})`, 'fix or remove the file')
      }
      data = structuredClone(defaults)
    }
    return data
  }
  return {
    path: file,
    get: (key) => load()[key],
    set: (key, value) => {
      const next = {...load(), [key]: value}
      mkdirSync(dir, {recursive: true, mode: 0o700})
      const tmp = `${file}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify(next, null, '\t'), {mode: 0o600})
      renameSync(tmp, file)
      data = next
    },
  }
}
