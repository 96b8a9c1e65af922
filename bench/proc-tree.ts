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
