// The claim on a final name while it is being uploaded, valid across every node of a shared storage: the
// name's lock entry, made atomically (EEXIST when it is there: local file systems and NFSv3+), whose mtime is
// a lease the holder renews; a lock not renewed for a lease is a dead node's and may be taken over.
// A new upload's lock is a hard link to its own part file (link(2), the classic NFS-safe lock), so an upload
// allocates one inode, as a plain open(O_CREAT) does; a resume, whose part is an earlier one, gets a lock file
// of its own holding the node's name as JSON. Both kinds are one directory entry checked the same way.
import fs, {constants as C} from 'node:fs'
import {at} from './beneath.js'
import {fileError} from './file-errors.js'
import {lockNameFor, partOwner, partTag} from './part-file.js'

/** How long a claim lives without renewal (the holder renews every third of it). Node clocks must agree within it. */
export const LEASE_MS = 30_000

/** Directory entries looked at to name the node holding a linked lock (past them it is "unknown"). */
const TAG_SEARCH_ENTRIES = 4096

/** What link(2) answers on a file system without hard links. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK'])

export class NameClaim {
  private readonly timer: NodeJS.Timeout
  private released = false

  /** Our lock's inode (kept open by `fd`, so its number cannot be reused while we hold it). */
  private readonly mine: {ino: number; dev: number}

  private constructor(
    private readonly dirFd: number,
    private readonly lockName: string,
    private readonly fd: number,
    /** A lock was there before ours (a holder that finished meanwhile, or a dead one taken over). */
    readonly contended: boolean,
  ) {
    const st = fs.fstatSync(fd)
    this.mine = {ino: st.ino, dev: st.dev}
    this.timer = setInterval(() => this.renew(), LEASE_MS / 3)
    this.timer.unref()
  }

  /**
   * Claims `name` in the directory open as `dirFd`, or throws `busy` naming the node that holds it. With
   * `partName` (a part this upload just created) the lock is a link to that part; else a lock file of its own.
   */
  static acquire(dirFd: number, name: string, virtualPath: string, nodeId: string, partName?: string, now = Date.now()): NameClaim {
    const lockName = lockNameFor(name)
    const path = at(dirFd, lockName)
    for (let attempt = 0; attempt < 3; attempt++) {
      const contended = attempt > 0
      try {
        const linked = partName === undefined ? -1 : NameClaim.linkTo(dirFd, partName, path, virtualPath)
        return new NameClaim(dirFd, lockName, linked >= 0 ? linked : NameClaim.lockFile(path, nodeId, now), contended)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
      const holder = NameClaim.inspect(dirFd, name, now)
      if (holder === null) continue // released meanwhile
      if (holder.live) throw fileError('busy', virtualPath, `another upload of this file is in progress (node ${holder.node}); try again later`)
      fs.rmSync(path, {force: true}) // a dead holder's lease ran out: take over
    }
    throw fileError('busy', virtualPath, 'another upload of this file is in progress; try again later')
  }

  /** A lock file of its own holding the node's name; its descriptor. */
  private static lockFile(path: string, nodeId: string, now: number): number {
    const fd = fs.openSync(path, C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600)
    try {
      fs.writeSync(fd, JSON.stringify({node: nodeId, pid: process.pid, since: new Date(now).toISOString()}) + '\n')
    } catch (error) {
      // disk full and the like: no lock may stay behind to block the next upload
      fs.closeSync(fd)
      fs.rmSync(path, {force: true})
      throw error
    }
    return fd
  }

  /** The lock as a second name of the part (EEXIST when the name is claimed); a descriptor of the part, or -1 where the file system has no hard links. */
  private static linkTo(dirFd: number, partName: string, path: string, virtualPath: string): number {
    const part = at(dirFd, partName)
    try {
      fs.linkSync(part, path)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // our part removed under us: only a node that took the name over (it judged our lock dead) does that
      if (code === 'ENOENT') throw fileError('busy', virtualPath, 'another upload of this file took over; try again later')
      // a file system without hard links (some FUSE, SMB and FAT mounts): a lock file of its own
      if (code !== undefined && NO_LINKS.has(code)) return -1
      throw error
    }
    try {
      return fs.openSync(part, C.O_RDONLY | C.O_NOFOLLOW)
    } catch (error) {
      fs.rmSync(path, {force: true})
      throw error
    }
  }

  /** The current holder of `name`'s lock, whether its lease is live; null when nobody holds it. */
  static inspect(dirFd: number, name: string, now = Date.now()): {node: string; live: boolean} | null {
    const path = at(dirFd, lockNameFor(name))
    const st = fs.lstatSync(path, {throwIfNoEntry: false})
    if (!st) return null
    let node = 'unknown'
    try {
      if (st.isFile() && st.nlink > 1) node = NameClaim.linkedPartTag(dirFd, name, st) ?? node
      else if (st.isFile() && st.size < 4096) node = String((JSON.parse(fs.readFileSync(path, 'utf8')) as {node?: unknown}).node ?? node)
    } catch {
      // a lock being written or damaged: only its age matters
    }
    return {node, live: st.isFile() && now - st.mtimeMs < LEASE_MS}
  }

  /**
   * The node tag in the name of the part a linked lock is, found by listing the directory (only when the name
   * is contended) and bounded, so a client retrying a busy name cannot make every try list a huge directory.
   */
  private static linkedPartTag(dirFd: number, name: string, lock: fs.Stats): string | undefined {
    const dir = fs.opendirSync(at(dirFd))
    try {
      for (let i = 0; i < TAG_SEARCH_ENTRIES; i++) {
        const entry = dir.readSync()
        if (entry === null) break
        if (partOwner(entry.name) !== name) continue
        const st = fs.lstatSync(at(dirFd, entry.name), {throwIfNoEntry: false})
        if (st && st.ino === lock.ino && st.dev === lock.dev) return partTag(entry.name)
      }
      return undefined
    } finally {
      dir.closeSync()
    }
  }

  /** Whether the lock file under the name is still ours (a node stopped past its lease may have lost it). */
  holds(): boolean {
    if (this.released) return false
    const there = fs.lstatSync(at(this.dirFd, this.lockName), {throwIfNoEntry: false})
    return there !== undefined && there.ino === this.mine.ino && there.dev === this.mine.dev
  }

  /** No more renewals (a commit under way: its times are final; it takes far less than a lease). */
  stopRenewal(): void {
    clearInterval(this.timer)
  }

  release(): void {
    if (this.released) return
    clearInterval(this.timer)
    try {
      if (this.holds()) fs.rmSync(at(this.dirFd, this.lockName), {force: true})
    } finally {
      this.released = true
      fs.closeSync(this.fd)
    }
  }

  private renew(): void {
    if (this.released) return
    const now = new Date()
    try {
      fs.futimesSync(this.fd, now, now)
    } catch {
      // storage gone: commit will find the claim lost
    }
  }
}
