// A raw SFTP v3 client over an ssh2 subsystem channel: sends requests without waiting for replies and hands
// back every reply in the order it arrived, so tests can pipeline and check reply order themselves.
import {readFileSync} from 'node:fs'
import ssh2, {type ClientChannel} from 'ssh2'

export const T = {INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, LSTAT: 7, FSTAT: 8, SETSTAT: 9, FSETSTAT: 10, OPENDIR: 11, READDIR: 12, REMOVE: 13, MKDIR: 14, STAT: 17, RENAME: 18, READLINK: 19, SYMLINK: 20, EXTENDED: 200} as const
export const R = {STATUS: 101, HANDLE: 102, DATA: 103, NAME: 104, ATTRS: 105, EXTENDED_REPLY: 201} as const
export const FX = {OK: 0, EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, BAD_MESSAGE: 5, OP_UNSUPPORTED: 8} as const
export const PFLAGS = {READ: 1, WRITE: 2, APPEND: 4, CREAT: 8, TRUNC: 0x10, EXCL: 0x20} as const

export interface Attrs {
  size?: number
  uid?: number
  gid?: number
  mode?: number
  atime?: number
  mtime?: number
}

export interface Reply {
  type: number
  id: number
  /** STATUS */
  code?: number
  message?: string
  /** HANDLE, DATA, EXTENDED_REPLY body */
  data?: Buffer
  attrs?: Attrs
  names?: string[]
}

export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  const len = Buffer.alloc(4)
  len.writeUInt32BE(b.length)
  return Buffer.concat([len, b])
}
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}
export function u64(n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}
export function attrs(a: Attrs = {}): Buffer {
  let flags = 0
  const parts: Buffer[] = []
  if (a.size !== undefined) (flags |= 1), parts.push(u64(a.size))
  if (a.uid !== undefined) (flags |= 2), parts.push(u32(a.uid), u32(a.gid ?? 0))
  if (a.mode !== undefined) (flags |= 4), parts.push(u32(a.mode))
  if (a.mtime !== undefined) (flags |= 8), parts.push(u32(a.atime ?? a.mtime), u32(a.mtime))
  return Buffer.concat([u32(flags), ...parts])
}

function parseAttrs(b: Buffer, pos: number): [Attrs, number] {
  const flags = b.readUInt32BE(pos)
  pos += 4
  const a: Attrs = {}
  if (flags & 1) (a.size = Number(b.readBigUInt64BE(pos))), (pos += 8)
  if (flags & 2) (a.uid = b.readUInt32BE(pos)), (a.gid = b.readUInt32BE(pos + 4)), (pos += 8)
  if (flags & 4) (a.mode = b.readUInt32BE(pos)), (pos += 4)
  if (flags & 8) (a.atime = b.readUInt32BE(pos)), (a.mtime = b.readUInt32BE(pos + 4)), (pos += 8)
  return [a, pos]
}

function readStr(b: Buffer, pos: number): [Buffer, number] {
  const n = b.readUInt32BE(pos)
  return [b.subarray(pos + 4, pos + 4 + n), pos + 4 + n]
}

function parseReply(p: Buffer): Reply {
  const type = p[0]
  const id = p.readUInt32BE(1)
  const r: Reply = {type, id}
  if (type === R.STATUS) {
    r.code = p.readUInt32BE(5)
    r.message = p.length > 9 ? readStr(p, 9)[0].toString() : ''
  } else if (type === R.HANDLE || type === R.DATA) {
    r.data = readStr(p, 5)[0]
  } else if (type === R.ATTRS) {
    r.attrs = parseAttrs(p, 5)[0]
  } else if (type === R.NAME) {
    const count = p.readUInt32BE(5)
    let pos = 9
    r.names = []
    for (let k = 0; k < count; k++) {
      const [name, a] = readStr(p, pos)
      const [, b] = readStr(p, a)
      ;[, pos] = parseAttrs(p, b)
      r.names.push(name.toString())
    }
  } else if (type === R.EXTENDED_REPLY) {
    r.data = p.subarray(5)
  }
  return r
}

export class RawSftp {
  private nextId = 1
  private buf = Buffer.alloc(0)
  private readonly replies: Reply[] = []
  private waiters: (() => void)[] = []
  closed = false
  exitCode: number | undefined

  private constructor(
    readonly conn: ssh2.Client,
    readonly channel: ClientChannel,
  ) {
    channel.on('data', (d: Buffer) => this.onData(d))
    channel.on('exit', (code: number) => (this.exitCode = code))
    channel.on('close', () => {
      this.closed = true
      this.wake()
    })
  }

  /** Connects with the private key file and opens the sftp subsystem (INIT/VERSION done). */
  static async connect(o: {host: string; port: number; username: string; privateKeyFile: string; localAddress?: string}): Promise<RawSftp> {
    const conn = new ssh2.Client()
    await new Promise<void>((resolve, reject) => {
      conn.once('ready', resolve).once('error', reject)
      conn.connect({host: o.host, port: o.port, username: o.username, privateKey: readFileSync(o.privateKeyFile), localAddress: o.localAddress, readyTimeout: 20_000})
    })
    return RawSftp.open(conn)
  }

  /** Opens one more sftp subsystem channel on an established connection (INIT/VERSION done). */
  static async open(conn: ssh2.Client): Promise<RawSftp> {
    const channel = await new Promise<ClientChannel>((resolve, reject) => conn.subsys('sftp', (err, ch) => (err ? reject(err) : resolve(ch))))
    const c = new RawSftp(conn, channel)
    channel.write(Buffer.concat([u32(5), Buffer.from([T.INIT]), u32(3)]))
    await c.until(() => c.versionSeen, 10_000)
    return c
  }

  private versionSeen = false

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d])
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0)
      if (this.buf.length < 4 + len) break
      const p = this.buf.subarray(4, 4 + len)
      this.buf = this.buf.subarray(4 + len)
      if (p[0] === T.VERSION) this.versionSeen = true
      else this.replies.push(parseReply(p))
    }
    this.wake()
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  private async until(cond: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!cond()) {
      if (this.closed) throw new Error('the channel closed')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms (${this.replies.length} replies so far)`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000))
        this.waiters.push(() => (clearTimeout(t), resolve()))
      })
    }
  }

  /** Sends one request (type + body after the id); returns its id. Never waits. */
  send(type: number, ...body: Buffer[]): number {
    const id = this.nextId++
    const payload = Buffer.concat([Buffer.from([type]), u32(id), ...body])
    this.channel.write(Buffer.concat([u32(payload.length), payload]))
    return id
  }

  /** Waits for `n` more replies (bounded) and returns them in arrival order. */
  async take(n: number, timeoutMs = 30_000): Promise<Reply[]> {
    await this.until(() => this.replies.length >= n, timeoutMs)
    return this.replies.splice(0, n)
  }

  /** One request, one reply. */
  async call(type: number, ...body: Buffer[]): Promise<Reply> {
    const id = this.send(type, ...body)
    const [r] = await this.take(1)
    if (r.id !== id) throw new Error(`reply ${r.id} to request ${id}`)
    return r
  }

  /** Sends EOF and waits for the server to close the channel; resolves to the exit status it sent. */
  async end(timeoutMs = 10_000): Promise<number | undefined> {
    this.channel.end()
    await this.until(() => this.closed, timeoutMs).catch(() => {})
    return this.exitCode
  }

  close(): void {
    this.conn.end()
  }
}
