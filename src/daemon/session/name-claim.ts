// The claim on a final name while it is being uploaded, valid across every node of a shared storage:
// a lock file created with O_EXCL (atomic on local file systems and NFSv3+) whose mtime is a lease the
// holder renews; a lock not renewed for a lease is a dead node's and may be taken over.
import fs, {constants as C} from 'node:fs'
import {at} from './beneath.js'
import {fileError} from './file-errors.js'
import {lockNameFor} from './part-file.js'

/** How long a claim lives without renewal (the holder renews every third of it). Node clocks must agree within it. */
export const LEASE_MS = 30_000

export class NameClaim {
  private readonly timer: NodeJS.Timeout
  private released = false

  private constructor(
    private readonly dirFd: number,
    private readonly lockName: string,
    private readonly fd: number,
    /** A lock was there before ours (a holder that finished meanwhile, or a dead one taken over). */
    readonly contended: boolean,
  ) {
    this.timer = setInterval(() => this.renew(), LEASE_MS / 3)
    this.timer.unref()
  }

  /** Claims `name` in the directory open as `dirFd`, or throws `busy` naming the node that holds it. */
  static acquire(dirFd: number, name: string, virtualPath: string, nodeId: string, now = Date.now()): NameClaim {
    const lockName = lockNameFor(name)
    const path = at(dirFd, lockName)
    for (let attempt = 0; attempt < 3; attempt++) {
      const contended = attempt > 0
      try {
        const fd = fs.openSync(path, C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600)
        try {
          fs.writeSync(fd, JSON.stringify({node: nodeId, pid: process.pid, since: new Date(now).toISOString()}) + '\n')
        } catch (error) {
          // disk full and the like: no lock may stay behind to block the next upload
          fs.closeSync(fd)
          fs.rmSync(path, {force: true})
          throw error
        }
        return new NameClaim(dirFd, lockName, fd, contended)
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

  /** The current holder of `name`'s lock, whether its lease is live; null when nobody holds it. */
  static inspect(dirFd: number, name: string, now = Date.now()): {node: string; live: boolean} | null {
    const path = at(dirFd, lockNameFor(name))
    const st = fs.lstatSync(path, {throwIfNoEntry: false})
    if (!st) return null
    let node = 'unknown'
    try {
      if (st.isFile() && st.size < 4096) node = String((JSON.parse(fs.readFileSync(path, 'utf8')) as {node?: unknown}).node ?? node)
    } catch {
      // a lock being written or damaged: only its age matters
    }
    return {node, live: st.isFile() && now - st.mtimeMs < LEASE_MS}
  }

  /** Whether the lock file under the name is still ours (a node stopped past its lease may have lost it). */
  holds(): boolean {
    if (this.released) return false
    const mine = fs.fstatSync(this.fd)
    const there = fs.lstatSync(at(this.dirFd, this.lockName), {throwIfNoEntry: false})
    return there !== undefined && there.ino === mine.ino && there.dev === mine.dev
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
