// Where an upload in progress keeps its data: `.<name>.<node>-<random>.ftpcluster-part` next to the final name.
import {readdir, stat} from 'node:fs/promises'
import path from 'node:path'

/** Path of the (largest) part file of `name` in `dir`, or null. */
export async function partOf(dir: string, name: string): Promise<string | null> {
  const prefix = `.${name}.`
  let best: {p: string; size: number} | null = null
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    if (!n.startsWith(prefix) || !n.endsWith('.ftpcluster-part')) continue
    const p = path.join(dir, n)
    const size = (await stat(p).catch(() => null))?.size ?? -1
    if (!best || size > best.size) best = {p, size}
  }
  return best?.p ?? null
}

/** Size of the part file of `name` in `dir` (0 when none). */
export async function partSize(dir: string, name: string): Promise<number> {
  const p = await partOf(dir, name)
  return p === null ? 0 : ((await stat(p).catch(() => null))?.size ?? 0)
}

/** Names in `dir` without upload bookkeeping (parts and locks). */
export async function visibleNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !(n.startsWith('.') && (n.endsWith('.ftpcluster-part') || n.endsWith('.ftpcluster-lock')))).sort()
}
