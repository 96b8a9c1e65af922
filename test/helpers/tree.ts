// A directory tree as a comparable record: "a/" → "dir", "a/f" → "size:sha256[:mode]"; upload part files are
// left out (they are ours, not content).
import {createHash} from 'node:crypto'
import {readFileSync, readdirSync, statSync} from 'node:fs'
import path from 'node:path'

export function fileTree(root: string, opts: {modes?: boolean} = {}, rel = ''): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    if (name.endsWith('.ftpcluster-part') || name.endsWith('.ftpcluster-lock')) continue
    const r = rel ? `${rel}/${name}` : name
    const st = statSync(path.join(root, r))
    if (st.isDirectory()) {
      Object.assign(out, {[`${r}/`]: 'dir'}, fileTree(root, opts, r))
      continue
    }
    const hash = createHash('sha256').update(readFileSync(path.join(root, r))).digest('hex')
    out[r] = opts.modes ? `${st.size}:${hash}:${(st.mode & 0o777).toString(8)}` : `${st.size}:${hash}`
  }
  return out
}
