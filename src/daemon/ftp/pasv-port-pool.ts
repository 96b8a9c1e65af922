// Passive data ports: only ever inside the configured range (a port outside it would be firewalled), one
// listener per port, freed as soon as the data connection arrives.
import {createServer, type Server} from 'node:net'

export class PasvPortPool {
  private readonly inUse = new Set<number>()
  private cursor = 0

  constructor(
    private min: number,
    private max: number,
  ) {}

  update(min: number, max: number): void {
    this.min = min
    this.max = max
  }

  get range(): {min: number; max: number} {
    return {min: this.min, max: this.max}
  }

  /** Listens on a free port of the range; null when every port is taken (the caller answers 425). */
  async acquire(host: string): Promise<{server: Server; port: number} | null> {
    const count = this.max - this.min + 1
    for (let i = 0; i < count; i++) {
      const port = this.min + ((this.cursor + i) % count)
      if (this.inUse.has(port)) continue
      this.inUse.add(port)
      const server = createServer({pauseOnConnect: true})
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false))
        server.listen({host, port, exclusive: true}, () => resolve(true))
      })
      if (ok) {
        this.cursor = (this.cursor + i + 1) % count
        return {server, port}
      }
      this.inUse.delete(port)
    }
    return null
  }

  release(port: number, server: Server): void {
    server.close()
    // the listening socket is gone at once; accepted data sockets on the port do not block a new listener
    this.inUse.delete(port)
  }
}
