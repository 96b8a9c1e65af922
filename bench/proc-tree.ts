// RSS and open descriptors of a process and its children (a node's supervisor and workers), from /proc.
import {readFileSync, readdirSync} from 'node:fs'

function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
  } catch {
    return []
  }
}

/** The process and every descendant, bounded in depth. */
export function processTree(pid: number, depth = 4): number[] {
  if (depth === 0) return [pid]
  return [pid, ...children(pid).flatMap((c) => processTree(c, depth - 1))]
}

export interface TreeSample {
  processes: number
  rssMiB: number
  fds: number
  perProcess: {pid: number; rssMiB: number; fds: number}[]
}

export function sampleTree(pid: number): TreeSample {
  const perProcess = processTree(pid).flatMap((p) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8')
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
      return [{pid: p, rssMiB: Math.round(rss * 10) / 10, fds: readdirSync(`/proc/${p}/fd`).length}]
    } catch {
      return []
    }
  })
  const rssMiB = Math.round(perProcess.reduce((s, p) => s + p.rssMiB, 0) * 10) / 10
  return {processes: perProcess.length, rssMiB, fds: perProcess.reduce((s, p) => s + p.fds, 0), perProcess}
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux this runs on). */
const TICKS = 100

/**
 * CPU seconds used by a process tree: each live process's user+system time plus what its reaped children
 * used (cutime+cstime), so sessions that came and went (an sshd per connection) are counted too.
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0
  for (const p of processTree(pid)) {
    const t = cpuTicks(p) // null: exited between the listing and the read (its time moved to its parent's cutime)
    if (t) ticks += t.own + t.children
  }
  return ticks / TICKS
}

/** A process's own user+system ticks and those of its reaped children, from /proc/<pid>/stat; null once gone. */
function cpuTicks(pid: number): {own: number; children: number} | null {
  try {
    // Fields after the command name (which may hold spaces), from field 3: utime is 14, stime 15, cutime 16, cstime 17.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
    return {own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14])}
  } catch {
    return null
  }
}

/**
 * Server CPU seconds since `c0`, read once the sessions have ended: an sshd per connection is counted when its
 * parent reaps it, so the reading waits (up to 2 s) until two readings 100 ms apart agree.
 */
export async function settledCpu(pid: number, c0: number): Promise<number> {
  let last = treeCpuSeconds(pid)
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100))
    const now = treeCpuSeconds(pid)
    if (now === last) break
    last = now
  }
  return last - c0
}

/**
 * CPU seconds of a process tree whose ended members' time does not reach the root's cutime (vsftpd: 0.00 s
 * read that way for a whole session): every process of the tree is sampled every `everyMs`, and its
 * own user+system time counted from the first to the last sample. An exiting process loses at most one interval.
 */
export function sampleTreeCpu(pid: number, everyMs = 20): {stop(): number} {
  const first = new Map<number, number>()
  const last = new Map<number, number>()
  const sample = () => {
    for (const p of processTree(pid)) {
      const t = cpuTicks(p)?.own
      if (t === undefined) continue
      if (!first.has(p)) first.set(p, t)
      last.set(p, t)
    }
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return {
    stop() {
      clearInterval(timer)
      sample()
      let ticks = 0
      for (const [p, t] of last) ticks += t - (first.get(p) ?? t)
      return ticks / TICKS
    },
  }
}
