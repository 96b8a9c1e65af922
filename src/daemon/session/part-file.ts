// Names of uploads in progress, next to the final name and hidden from listings:
// `.<name>.<node>-<random>.ftpcluster-part` (the data; unique per upload, so two writers never share one)
// and `.<name>.ftpcluster-lock` (the claim on the final name across every node of the shared storage: a hard
// link to the part of a new upload, a small file of its own for a resume; see name-claim.ts).
import fs from 'node:fs'
import {at} from './beneath.js'

export const PART_SUFFIX = '.ftpcluster-part'
export const LOCK_SUFFIX = '.ftpcluster-lock'
const TAGGED = /^\.(.+)\.([A-Za-z0-9_]{1,16}-[0-9a-f]{12})\.ftpcluster-part$/

export function partNameFor(name: string, tag: string): string {
  return `.${name}.${tag}${PART_SUFFIX}`
}

export function lockNameFor(name: string): string {
  return `.${name}${LOCK_SUFFIX}`
}

/** Part and lock files: reserved, never listed, never opened or created by clients. */
export function isPartName(name: string): boolean {
  if (!name.startsWith('.')) return false
  if (name.endsWith(PART_SUFFIX)) return name.length > PART_SUFFIX.length + 1
  return name.endsWith(LOCK_SUFFIX) && name.length > LOCK_SUFFIX.length + 1
}

/** The final name a part file belongs to (also the single `.<name>.ftpcluster-part` of older versions). */
export function partOwner(partName: string): string | null {
  const m = TAGGED.exec(partName)
  if (m) return m[1]
  if (partName.startsWith('.') && partName.endsWith(PART_SUFFIX) && partName.length > PART_SUFFIX.length + 1) {
    return partName.slice(1, -PART_SUFFIX.length)
  }
  return null
}

/** The node tag in a tagged part's name (`.<name>.<node>-<random>.ftpcluster-part`), if it is one. */
export function partTag(partName: string): string | undefined {
  return TAGGED.exec(partName)?.[2].replace(/-[0-9a-f]{12}$/, '')
}

export interface PartInfo {
  name: string
  size: number
  mtimeMs: number
}

/**
 * Where a stopped upload's part rests for a resume: one fixed name per final name (the untagged form), so it
 * is found with one lstat instead of a listing of the directory. Tagged parts are only in use (under the
 * name's lock) or left by a node that died mid-upload (its lock stays too): a lock means a listing is needed.
 */
export function keptNameFor(name: string): string {
  return `.${name}${PART_SUFFIX}`
}

/**
 * Kept parts of `name`, largest first: the one at rest (one lstat), or every one by listing the directory
 * when `list` says so ('locked': when the name's lock file exists, i.e. an upload runs or its node died).
 */
export function keptPartsOf(dirFd: number, name: string, list: boolean | 'locked'): PartInfo[] {
  if (list === 'locked') list = fs.lstatSync(at(dirFd, lockNameFor(name)), {throwIfNoEntry: false}) !== undefined
  if (list) return partsOf(dirFd, name)
  const kept = keptNameFor(name)
  const st = fs.lstatSync(at(dirFd, kept), {throwIfNoEntry: false})
  return st?.isFile() ? [{name: kept, size: st.size, mtimeMs: st.mtimeMs}] : []
}

/** Kept parts of `name` in the directory open as `dirFd` (regular files only), largest first. */
export function partsOf(dirFd: number, name: string): PartInfo[] {
  const out: PartInfo[] = []
  for (const entry of fs.readdirSync(at(dirFd))) {
    if (partOwner(entry) !== name) continue
    const st = fs.lstatSync(at(dirFd, entry), {throwIfNoEntry: false})
    if (st?.isFile()) out.push({name: entry, size: st.size, mtimeMs: st.mtimeMs})
  }
  return out.sort((a, b) => b.size - a.size || b.mtimeMs - a.mtimeMs)
}
