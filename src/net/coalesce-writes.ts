// One system call for what a socket is given in one turn of the event loop. ssh2 writes every SSH packet
// on its own (a 256 KiB READ answer is eight 32 KiB packets plus their headers, a small reply and a window
// adjust are two), and node writes each at once while the socket is writable: a write(2) per packet. Held
// with cork() from the first write of a turn until the turn's microtasks have run, they leave as one
// writev(2) — what node's own HTTP server does for a response. Nothing waits for a timer: the batch leaves
// before any I/O is polled again.
import type {Socket} from 'node:net'

/** Makes `socket.write` gather the writes of one tick into one writev; returns the socket. */
export function coalesceWrites<T extends Socket>(socket: T): T {
  const write = socket.write
  let corked = false
  const flush = (): void => {
    corked = false
    if (!socket.destroyed) socket.uncork()
  }
  socket.write = function (this: T, ...args: Parameters<Socket['write']>): boolean {
    if (!corked && !socket.destroyed) {
      corked = true
      socket.cork()
      process.nextTick(flush)
    }
    return write.apply(this, args)
  } as Socket['write']
  return socket
}
