// The striped cluster's data plane (issue #7, bench parts 1 and 2), real processes on one machine:
//  (1) aggregate download throughput of 8 parallel active-mode curl clients against 1, 2 and 4 storage nodes,
//      each node capped at the same `stripe.nodeBandwidthLimit` (default 40 MB/s), so scaling shows on a small
//      machine — target: 4 nodes ≥ 3.5× one node;
//  (2) the gateway's CPU seconds per GB downloaded in active mode (node → client) vs passive relay (node →
//      gateway → client), uncapped — target: active ≤ 5 % of relay.
//   node dist/bench/stripe-throughput.js [--size 32M] [--cap 40000000] [--cpu-size 1G]
// Addresses: 127.0.72.0/24 (clusters at .10/.20/.30, client .50).
import {spawn} from 'node:child_process'
import {randomFillSync} from 'node:crypto'
import {closeSync, mkdirSync, openSync, readFileSync, writeSync} from 'node:fs'
import path from 'node:path'
import {tempDir} from '../test/helpers/node-process.js'
import {GATEWAY_PORT, PASSWORD, USER, startStripeCluster, type StripeCluster} from '../test/helpers/stripe-cluster.js'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback
}

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s)
  if (!m) throw new Error(`size ${s}: expected e.g. 32M, 1G`)
  return Number(m[1]) * {'': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3}[m[2].toUpperCase() as '' | 'K' | 'M' | 'G']
}

const fileSize = parseSize(arg('size', '32M'))
const cap = Number(arg('cap', '40000000'))
const cpuBytes = parseSize(arg('cpu-size', '1G'))
const CLIENT = '127.0.72.50'
const STREAMS = 8

function curl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--fail', '--interface', CLIENT, '-u', `${USER}:${PASSWORD}`, ...args], {stdio: ['ignore', 'ignore', 'pipe']})
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`curl ${args.join(' ')} failed (${code}): ${err}`))))
  })
}

function makeFile(file: string, size: number): void {
  const fd = openSync(file, 'w')
  const buf = Buffer.alloc(4 * 1024 * 1024)
  for (let left = size; left > 0; left -= buf.length) {
    randomFillSync(buf)
    writeSync(fd, buf, 0, Math.min(buf.length, left))
  }
  closeSync(fd)
}

/** utime + stime of a process, in seconds (the gateway runs in the node's supervisor process). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function upload(cluster: StripeCluster, base: string, file: string, names: string[]): Promise<void> {
  await curl(['-P', CLIENT, '--ftp-create-dirs', ...names.flatMap((n) => ['-T', file, `${base}${n}`])])
  void cluster
}

async function parallelDownload(base: string, names: string[], extra: string[]): Promise<number> {
  const t0 = process.hrtime.bigint()
  await Promise.all(names.map((n) => curl([...extra, '-o', '/dev/null', `${base}${n}`])))
  return Number(process.hrtime.bigint() - t0) / 1e9
}

async function main(): Promise<void> {
  const root = tempDir('ftpcluster-bench-stripe-')
  const src = path.join(root, 'file.bin')
  makeFile(src, fileSize)
  const names = Array.from({length: STREAMS}, (_, i) => `f${i}.bin`)
  const results: {nodes: number; mbps: number}[] = []
  let cpu: {active: {gross: number; net: number}; relay: {gross: number; net: number}; baseline: number} | null = null
  const layouts: [number, string][] = [[1, '127.0.72.10'], [2, '127.0.72.20'], [4, '127.0.72.30']]
  for (const [n, gw] of layouts) {
    const prefix = gw.slice(0, gw.lastIndexOf('.') + 1)
    const base = Number(gw.slice(gw.lastIndexOf('.') + 1))
    const nodes = Array.from({length: n}, (_, i) => `${prefix}${base + 1 + i}`)
    const dir = path.join(root, `c${n}`)
    mkdirSync(dir)
    process.stderr.write(`starting a gateway and ${n} storage node(s)…\n`)
    const cluster = await startStripeCluster(dir, gw, nodes, {mutate: (c) => (c.stripe.nodeBandwidthLimit = null)})
    try {
      const url = `ftp://${gw}:${GATEWAY_PORT}/bench/`
      await upload(cluster, url, src, names)
      await cluster.change((c) => (c.stripe.nodeBandwidthLimit = cap))
      await new Promise((r) => setTimeout(r, 1000)) // the change reaches every node
      const seconds = await parallelDownload(url, names, ['-P', CLIENT])
      const mbps = (STREAMS * fileSize) / seconds / 1e6
      results.push({nodes: n, mbps})
      process.stderr.write(`  ${n} node(s): ${mbps.toFixed(1)} MB/s aggregate (${STREAMS} active streams, cap ${(cap / 1e6).toFixed(0)} MB/s per node)\n`)
      if (n === 4) {
        await cluster.change((c) => (c.stripe.nodeBandwidthLimit = null))
        await new Promise((r) => setTimeout(r, 1000))
        const pid = cluster.gateway.process!.pid!
        const rounds = Math.max(1, Math.round(cpuBytes / (STREAMS * fileSize)))
        // every curl run logs in (scrypt): the same sessions without a transfer are the baseline taken off
        const sessions = async () => {
          const before = cpuSeconds(pid)
          for (let i = 0; i < rounds; i++) await Promise.all(names.map((n) => curl(['-I', `${url}${n}`])))
          return cpuSeconds(pid) - before
        }
        const baseline = await sessions()
        const measure = async (extra: string[]) => {
          const before = cpuSeconds(pid)
          for (let i = 0; i < rounds; i++) await parallelDownload(url, names, extra)
          const used = cpuSeconds(pid) - before
          const gb = (rounds * STREAMS * fileSize) / 1e9
          return {gross: used / gb, net: Math.max(0, used - baseline) / gb}
        }
        cpu = {active: await measure(['-P', CLIENT]), relay: await measure([]), baseline}
      }
    } finally {
      await cluster.stop()
    }
  }
  const one = results[0].mbps
  console.log('striped cluster data plane (one shared machine; figures are indicative)')
  console.log(`file ${fileSize / 1024 ** 2} MiB × ${STREAMS} parallel active-mode curl downloads, per-node cap ${(cap / 1e6).toFixed(0)} MB/s`)
  for (const r of results) console.log(`  ${r.nodes} node(s): ${r.mbps.toFixed(1)} MB/s  (${(r.mbps / one).toFixed(2)}× one node)`)
  const four = results.find((r) => r.nodes === 4)!
  console.log(`  target 4 nodes ≥ 3.5× one node: ${(four.mbps / one).toFixed(2)}× ${four.mbps / one >= 3.5 ? 'met' : 'NOT met'}`)
  if (cpu) {
    console.log(`gateway CPU per GB (4 nodes, uncapped), with the sessions' logins: active ${cpu.active.gross.toFixed(3)} s/GB, passive relay ${cpu.relay.gross.toFixed(3)} s/GB`)
    console.log(`  without them (the same sessions doing only SIZE cost ${cpu.baseline.toFixed(2)} s): active ${cpu.active.net.toFixed(3)} s/GB, passive relay ${cpu.relay.net.toFixed(3)} s/GB`)
    const ratio = cpu.active.net / cpu.relay.net
    console.log(`  target active ≤ 5 % of relay: ${(ratio * 100).toFixed(1)} % ${ratio <= 0.05 ? 'met' : 'NOT met'}`)
  }
}

main().then(() => process.exit(0), (error: Error) => {
  console.error(error.stack)
  process.exit(1)
})
