// The order of one SFTP channel, as OpenSSH's sftp-server gives it: requests take effect in the order they
// arrived and replies leave in that order. Only runs of READs, or runs of non-overlapping WRITEs, overlap
// inside (read-ahead and write-behind); anything else waits for everything before it and blocks what follows.

/** READ and WRITE may overlap with their own kind; every other request is a barrier. */
export type OpKind = 'read' | 'write' | 'barrier'

/** Sends one reply; called in request order. */
export type Reply = () => void

export interface OpSpec {
  kind: OpKind
  /** WRITE only: the handle (as sent) and the byte range, so overlapping writes run one after the other. */
  handle?: number
  start?: number
  end?: number
  /** Starts the work; calls `finish` exactly once with the reply to send. */
  run(finish: (reply: Reply) => void): void
}

interface Op extends OpSpec {
  reply: Reply | null
  done: boolean
}

const noop = (): void => {}

/** Data requests running at once: what OpenSSH's sftp client keeps outstanding (64), so none waits on us. */
export const MAX_RUNNING = 64

export class RequestQueue {
  /**
   * @param mayStart asked before each start: false holds every request back (replies the client is not taking
   * would pile up) until `kick()` is called.
   */
  constructor(private readonly mayStart: () => boolean = () => true) {}

  /** Every request not yet replied to, in arrival order; `head` is the oldest. */
  private ops: Op[] = []
  private head = 0
  /** The next request to start (all before it have started). */
  private next = 0
  private running = 0
  private runningKind: OpKind | null = null
  private readonly writes: Op[] = []
  private stopped = false
  private pumping = false
  private idleWaiters: (() => void)[] = []

  /** Requests received and not yet answered (started or waiting). */
  get pending(): number {
    return this.ops.length - this.head
  }

  submit(spec: OpSpec): void {
    if (this.stopped) return
    this.ops.push({...spec, reply: null, done: false})
    this.pump()
  }

  /** Starts what `mayStart` held back, now that it allows it. */
  kick(): void {
    this.pump()
  }

  /** Drops what has not started; resolves once nothing runs any more (fds may be closed then). */
  stop(): Promise<void> {
    this.stopped = true
    this.ops.length = this.next
    return this.whenIdle()
  }

  /** Resolves when every submitted request has been answered (or dropped by stop). */
  whenIdle(): Promise<void> {
    if (this.running === 0 && this.pending === 0) return Promise.resolve()
    if (this.stopped && this.running === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private canStart(op: Op): boolean {
    if (this.running === 0) return true
    if (op.kind === 'barrier' || op.kind !== this.runningKind || this.running >= MAX_RUNNING) return false
    if (op.kind === 'write') {
      for (const w of this.writes) if (w.handle === op.handle && op.start! < w.end! && w.start! < op.end!) return false
    }
    return true
  }

  private pump(): void {
    // A request that finishes synchronously re-enters here: the outer loop carries on instead (no deep stacks).
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.next < this.ops.length && !this.stopped) {
        const op = this.ops[this.next]
        if (!this.canStart(op) || !this.mayStart()) return
        this.next += 1
        this.running += 1
        this.runningKind = op.kind
        if (op.kind === 'write') this.writes.push(op)
        let finished = false
        op.run((reply) => {
          if (finished) return
          finished = true
          this.finish(op, reply)
        })
      }
    } finally {
      this.pumping = false
    }
  }

  private finish(op: Op, reply: Reply): void {
    this.running -= 1
    if (this.running === 0) this.runningKind = null
    if (op.kind === 'write') this.writes.splice(this.writes.indexOf(op), 1)
    op.reply = reply
    op.done = true
    this.flush()
    this.pump()
    if (this.running === 0 && (this.pending === 0 || this.stopped)) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }

  /** Sends the replies that are next in request order. */
  private flush(): void {
    while (this.head < this.ops.length && this.ops[this.head].done) {
      const op = this.ops[this.head]
      this.head += 1
      const reply = op.reply!
      // Answered: drop what the request held (a WRITE's data) now, not when the array is next compacted.
      op.reply = null
      op.run = noop
      if (this.stopped) continue
      try {
        reply()
      } catch {
        // A reply to a channel that is going away: nothing left to tell the client.
      }
    }
    if (this.head > 1024 && this.head * 2 > this.ops.length) {
      this.ops = this.ops.slice(this.head)
      this.next -= this.head
      this.head = 0
    }
  }
}
