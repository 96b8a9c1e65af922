// Configuration writes a node refused (a stale base, an invalid field, a secondary asked to change): who, from
// where, when and why, so an operator sees what a client only got as a status on the wire. A bounded,
// durable log in <data dir>/config/rejected.log, one JSON line each, separate from the audit trail of
// applied changes.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {RejectedDocument, RejectedWrite} from '../protocol/index.js'
import {writeFileAtomic} from './atomic-file.js'
import {configPaths} from './store.js'

/** Refusals listed; the file is compacted to these once it holds twice as many lines. */
export const REJECTED_KEPT = 100
const MAX_REASON = 500

const logs = new Map<string, RejectedLog>()

export class RejectedLog {
  private queue: Promise<unknown> = Promise.resolve()
  private lines = -1

  private constructor(readonly file: string) {}

  /** The log of a data directory (one writer per directory in the process). */
  static of(dataDir: string): RejectedLog {
    const file = path.join(configPaths(dataDir).dir, 'rejected.log')
    let log = logs.get(file)
    if (!log) logs.set(file, (log = new RejectedLog(file)))
    return log
  }

  /** Appends one refusal and syncs it; never throws (a full disk must not hide the refusal's own reply). */
  record(entry: RejectedWrite): Promise<void> {
    const line = JSON.stringify({...entry, reason: entry.reason.slice(0, MAX_REASON)}) + '\n'
    const task = async () => {
      if (this.lines < 0) this.lines = (await this.readLines()).length
      const fh = await fs.open(this.file, 'a', 0o600)
      try {
        await fh.write(line)
        await fh.datasync()
      } finally {
        await fh.close()
      }
      if (++this.lines >= 2 * REJECTED_KEPT) {
        const kept = (await this.readLines()).slice(-REJECTED_KEPT)
        await writeFileAtomic(this.file, kept.map((l) => l + '\n').join(''))
        this.lines = kept.length
      }
    }
    const run = this.queue.then(task, task).catch(() => {})
    this.queue = run
    return run
  }

  /** The newest refusals first; a torn last line (a crash mid-append) is skipped. */
  async list(limit = REJECTED_KEPT): Promise<RejectedDocument> {
    const entries = (await this.readLines()).flatMap((l) => {
      try {
        return [JSON.parse(l) as RejectedWrite]
      } catch {
        return []
      }
    })
    const kept = entries.slice(-REJECTED_KEPT)
    return {kept: kept.length, rejected: kept.reverse().slice(0, limit)}
  }

  private async readLines(): Promise<string[]> {
    const text = await fs.readFile(this.file, 'utf8').catch(() => '')
    return text.split('\n').filter(Boolean)
  }
}
