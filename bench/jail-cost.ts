// Cost of race-free resolution: per-operation latency of stat, open+close and list through the FileSession for
// a 10-level-deep path, in process (no network), median of several rounds. Run it in two trees (before and
// after) and compare; `bench/README.md` has the figures. Usage: node dist/bench/jail-cost.js [--ops 20000]
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {ALL_PERMISSIONS} from '../src/config/schema.js'
import {LocalFileSession} from '../src/daemon/session/local-session.js'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function perOp(ops: number, fn: () => Promise<unknown>): Promise<number> {
  const rounds: number[] = []
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < ops / 5; i++) await fn()
    rounds.push(Number(process.hrtime.bigint() - t0) / 1e3 / (ops / 5))
  }
  return median(rounds)
}

async function main(): Promise<void> {
  const ops = Number(arg('ops', '20000'))
  const storage = await mkdtemp(path.join(tmpdir(), 'ftpcluster-jail-bench-'))
  try {
    const deep = Array.from({length: 10}, (_, i) => `level${i}`).join('/')
    await mkdir(path.join(storage, 'bench', deep), {recursive: true})
    await writeFile(path.join(storage, 'bench', deep, 'small.txt'), 'x'.repeat(100))
    const s = await LocalFileSession.open(storage, {name: 'bench', passwordHash: null, publicKeys: [], home: '/bench', permissions: [...ALL_PERMISSIONS], disabled: false})
    const file = `/${deep}/small.txt`
    for (let i = 0; i < 500; i++) await s.stat(file) // warm up
    const stat = await perOp(ops, () => s.stat(file))
    const open = await perOp(ops, async () => (await s.openRead(file)).close())
    const list = await perOp(ops / 4, () => s.list(`/${deep}`))
    console.log(`FileSession latency, 10-level-deep path, median of 5 rounds of ${ops / 5} ops (µs/op)`)
    console.log(`stat ${stat.toFixed(1)}  open+close ${open.toFixed(1)}  list ${list.toFixed(1)}`)
  } finally {
    await rm(storage, {recursive: true, force: true})
  }
}

main().catch((error: unknown) => {
  console.error((error as Error).message)
  process.exitCode = 1
})
