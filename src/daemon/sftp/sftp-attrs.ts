// FileStat → SFTP attributes and the `ls -l` style longname OpenSSH's `ls -l` prints.
import type {Attributes} from 'ssh2'
import type {FileStat} from '../session/types.js'

export function toAttrs(s: FileStat): Attributes {
  return {
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    atime: Math.floor(s.atime.getTime() / 1000),
    mtime: Math.floor(s.mtime.getTime() / 1000),
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const HALF_YEAR_MS = 182 * 24 * 3600 * 1000

function modeString(s: FileStat): string {
  const type = s.isDirectory ? 'd' : s.isSymlink ? 'l' : '-'
  let out = type
  for (let shift = 6; shift >= 0; shift -= 3) {
    const bits = (s.mode >> shift) & 7
    out += (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (bits & 1 ? 'x' : '-')
  }
  return out
}

export function longname(s: FileStat, owner: string, now = Date.now()): string {
  const d = s.mtime
  const recent = Math.abs(now - d.getTime()) < HALF_YEAR_MS
  const day = String(d.getDate()).padStart(2, ' ')
  const tail = recent ? `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}` : ` ${d.getFullYear()}`
  const who = owner.padEnd(8, ' ')
  return `${modeString(s)}    1 ${who} ${who} ${String(s.size).padStart(12, ' ')} ${MONTHS[d.getMonth()]} ${day} ${tail} ${s.name}`
}
