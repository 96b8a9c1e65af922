// The configuration journal of a large directory: config/current.json is a snapshot, and each change since is
// one line of config/journal.log, a patch against the revision before it (a few hundred bytes for a one-user
// change to 50,000 users, where the document is 20 MB). A line is acknowledged only once it is on disk
// (fdatasync); a torn last line is a change nobody was told is done, and is cut off. The same patch record is
// what history keeps for a journaled revision (history/N.patch.json) and what a staged delta is.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {fsyncDir} from './atomic-file.js'
import type {PatchOp} from './config-patch.js'

export interface RevisionRef {
  epoch: number
  revision: number
  hash: string
}

/** One change as a patch: `ops` turn the configuration `base` into `target`. */
export interface PatchRecord {
  v: 1
  base: RevisionRef
  target: RevisionRef
  ops: PatchOp[]
}

const isRef = (r: unknown): r is RevisionRef => {
  const x = r as RevisionRef
  return !!x && typeof x === 'object' && Number.isInteger(x.epoch) && Number.isInteger(x.revision) && typeof x.hash === 'string'
}

/** The record `value` is, or null when it is not one (a torn or foreign line). */
export function asPatchRecord(value: unknown): PatchRecord | null {
  const r = value as PatchRecord
  if (!r || typeof r !== 'object' || r.v !== 1 || !isRef(r.base) || !isRef(r.target) || !Array.isArray(r.ops)) return null
  return r
}

export const sameRef = (a: RevisionRef, b: RevisionRef): boolean => a.epoch === b.epoch && a.revision === b.revision && a.hash === b.hash

/** The records of a journal file in order; a torn last line is cut off the file (it was never acknowledged). */
export async function readJournal(file: string): Promise<{records: PatchRecord[]; bytes: number; problem: string | null}> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {records: [], bytes: 0, problem: null}
    throw error
  }
  const records: PatchRecord[] = []
  let at = 0
  let problem: string | null = null
  while (at < text.length) {
    const end = text.indexOf('\n', at)
    if (end < 0) break // torn: written, never synced to the end
    let rec: PatchRecord | null = null
    try {
      rec = asPatchRecord(JSON.parse(text.slice(at, end)))
    } catch {
      rec = null
    }
    if (!rec) {
      problem = `line ${records.length + 1} is not a change record`
      break
    }
    records.push(rec)
    at = end + 1
  }
  const good = Buffer.byteLength(text.slice(0, at))
  if (problem === null && good < Buffer.byteLength(text)) {
    const h = await fs.open(file, 'r+')
    try {
      await h.truncate(good)
      await h.datasync()
    } finally {
      await h.close()
    }
  }
  return {records, bytes: good, problem}
}

/** Appends one record durably (the line, then fdatasync; the directory too when the file is new); on failure nothing of it stays. */
export async function appendRecord(file: string, record: string, created: boolean): Promise<number> {
  const line = record + '\n'
  const h = await fs.open(file, 'a', 0o600)
  try {
    const before = (await h.stat()).size
    try {
      // write(2) may take part of the line (a disk that fills up takes what fits): write the rest until it
      // all went or the disk refuses with an error; only then sync.
      const bytes = Buffer.from(line)
      for (let at = 0, rounds = 0; at < bytes.length; rounds++) {
        const {bytesWritten} = await h.write(bytes, at, bytes.length - at)
        if (bytesWritten === 0 || rounds > 1000) throw Object.assign(new Error('the journal write made no progress'), {code: 'EIO'})
        at += bytesWritten
      }
      await h.datasync()
    } catch (error) {
      // A change reported as not made must not come back at the next start: cut what was written of it.
      await h.truncate(before).then(() => h.datasync()).catch(() => {})
      throw error
    }
  } finally {
    await h.close()
  }
  if (created) await fsyncDir(path.dirname(file))
  return Buffer.byteLength(line)
}

/** Empties the journal durably (after a snapshot made its records redundant). */
export async function clearJournal(file: string): Promise<void> {
  const h = await fs.open(file, 'r+').catch(() => null)
  if (!h) return
  try {
    await h.truncate(0)
    await h.datasync()
  } finally {
    await h.close()
  }
}
