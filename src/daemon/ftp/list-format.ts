// Directory listings: `ls -l` lines for LIST (the format lftp, curl and FileZilla parse), bare names for
// NLST, and RFC 3659 facts for MLSD/MLST.
import type {FileStat} from '../session/types.js'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000

function modeString(s: FileStat): string {
  const type = s.isDirectory ? 'd' : s.isSymlink ? 'l' : '-'
  const bits = 'rwxrwxrwx'
  let out = type
  for (let i = 0; i < 9; i++) out += s.mode & (1 << (8 - i)) ? bits[i] : '-'
  return out
}

const pad2 = (n: number) => String(n).padStart(2, '0')

/** One `ls -l` line (times in UTC, owner hidden as "ftp" like vsftpd's hide_ids). */
export function listLine(s: FileStat, now = Date.now()): string {
  const t = s.mtime
  const recent = Math.abs(now - t.getTime()) < SIX_MONTHS_MS
  const when = recent ? `${pad2(t.getUTCHours())}:${pad2(t.getUTCMinutes())}` : ` ${t.getUTCFullYear()}`
  const date = `${MONTHS[t.getUTCMonth()]} ${pad2(t.getUTCDate())} ${when}`
  const size = String(s.isDirectory ? 4096 : s.size).padStart(12)
  return `${modeString(s)}    1 ftp      ftp      ${size} ${date} ${s.name}`
}

/** RFC 3659 timestamp: YYYYMMDDHHMMSS in UTC. */
export function mdtm(d: Date): string {
  return `${d.getUTCFullYear()}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}`
}

/** RFC 3659 facts for one entry; `perm` says what this user may do (so clients grey out the rest). */
export function mlsxFacts(s: FileStat, can: (p: 'list' | 'download' | 'upload' | 'overwrite' | 'delete' | 'mkdir' | 'rename') => boolean, type?: 'cdir' | 'pdir'): string {
  let perm = ''
  if (s.isDirectory) {
    if (can('upload')) perm += 'c'
    if (can('delete')) perm += 'd'
    perm += 'e'
    if (can('rename')) perm += 'f'
    if (can('list')) perm += 'l'
    if (can('mkdir')) perm += 'm'
    if (can('delete')) perm += 'p'
  } else {
    if (can('upload')) perm += 'a'
    if (can('delete')) perm += 'd'
    if (can('rename')) perm += 'f'
    if (can('download')) perm += 'r'
    if (can('overwrite')) perm += 'w'
  }
  const facts = [`type=${type ?? (s.isDirectory ? 'dir' : 'file')}`]
  if (!s.isDirectory) facts.push(`size=${s.size}`)
  facts.push(`modify=${mdtm(s.mtime)}`, `perm=${perm}`, `unix.mode=0${(s.mode & 0o777).toString(8)}`)
  return facts.join(';') + ';'
}
