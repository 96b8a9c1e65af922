// bench/stripe part (3), the catalogue: LIST of a directory with 10k entries (target ≤ 50 ms) and the
// process's RSS with 1M entries in the catalogue (target ≤ 300 MiB), on the real store (better-sqlite3, WAL,
// synchronous=FULL) in a temporary directory. The gateway's LIST is this `list()` plus the reply's formatting.
// No peer: nothing else here keeps a catalogue; the figures are printed against the targets as ratios.
// Usage: node dist/bench/stripe-catalogue.js [--entries 1000000] [--lists 30]
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {openCatalogue} from '../src/stripe/catalogue.js'

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const ENTRIES = arg('entries', 1_000_000)
const LISTS = arg('lists', 30)
const MiB = 1024 * 1024
const rss = () => process.memoryUsage().rss / MiB
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const dir = mkdtempSync(path.join(tmpdir(), 'bench-stripe-catalogue-'))
try {
  const file = path.join(dir, 'catalogue.db')
  const c = openCatalogue(file)
  const sha = 'ab'.repeat(32)
  const rssStart = rss()
  const t0 = performance.now()
  // 10k in one directory (the LIST case), the rest in directories of 1,000 (a realistic tree)
  const put = (p: string, i: number) => c.putFile({path: p, size: 1000 + (i % 5000), mtimeMs: 1_700_000_000_000 + i, owner: 'alice', sha256: sha, nodes: i % 2 ? ['node-a', 'node-b'] : ['node-c', 'node-a']})
  c.batch(() => {
    for (let i = 0; i < 10_000; i++) put(`/big/file-${String(i).padStart(5, '0')}.dat`, i)
  })
  for (let done = 10_000; done < ENTRIES; ) {
    const n = Math.min(20_000, ENTRIES - done)
    c.batch(() => {
      for (let i = done; i < done + n; i++) put(`/tree/d${Math.floor(i / 1000)}/f${i}.dat`, i)
    })
    done += n
    if (done % 200_000 === 0) process.stderr.write(`loaded ${done} entries, RSS ${rss().toFixed(0)} MiB\n`)
  }
  const loadS = (performance.now() - t0) / 1000
  const rssLoaded = rss()
  const lists: number[] = []
  let count = 0
  for (let i = 0; i < LISTS; i++) {
    const s = performance.now()
    count = c.list('/big').length
    lists.push(performance.now() - s)
  }
  // a single acknowledged write, as a STOR's 226 waits for it (one fsync of the WAL)
  const writes: number[] = []
  for (let i = 0; i < 50; i++) {
    const s = performance.now()
    put(`/acked/w${i}`, i)
    writes.push(performance.now() - s)
  }
  const rssEnd = rss()
  const stats = c.stats()
  c.close()
  const listMs = median(lists)
  const peakRss = Math.max(rssLoaded, rssEnd)
  console.log(`catalogue: ${stats.files} files, ${stats.dirs} dirs loaded in ${loadS.toFixed(1)} s; db ${(statSync(file).size / MiB).toFixed(0)} MiB on disk`)
  console.log(`LIST of ${count} entries: median ${listMs.toFixed(1)} ms over ${LISTS} (target ≤ 50 ms: ${(listMs / 50).toFixed(2)}× the target)`)
  console.log(`RSS with ${stats.files} entries: ${peakRss.toFixed(0)} MiB (start ${rssStart.toFixed(0)} MiB; target ≤ 300 MiB: ${(peakRss / 300).toFixed(2)}× the target)`)
  console.log(`acknowledged putFile (synchronous=FULL): median ${median(writes).toFixed(2)} ms`)
} finally {
  rmSync(dir, {recursive: true, force: true})
}
