// The legacy scp protocol, server side (`scp -t` receives, `scp -f` sends), as OpenSSH's scp speaks it
// with -O or before 9.0: every path stays in the jail, every upload goes through the atomic upload
// (part file, then rename), and permissions are the user's.
import fs from 'node:fs'
import path from 'node:path'
import type {Readable, Writable} from 'node:stream'
import {promisify} from 'node:util'
import type {FileSession, UploadHandle} from '../../session/types.js'
import {writeFully} from '../../session/write-fully.js'
import {ChannelReader} from './channel-reader.js'
import {strerror} from './hash-command.js'

const read = promisify(fs.read)
const fchmod = promisify(fs.fchmod)

export interface ScpOptions {
  to: boolean // -t: we are the sink
  from: boolean // -f: we are the source
  recursive: boolean
  preserve: boolean
  targetIsDir: boolean // -d
  paths: string[]
}

/** Parses scp's own arguments (`scp -v -r -p -d -t -- target`); null when they are not scp's server mode. */
export function parseScpArgs(args: string[]): ScpOptions | null {
  const o: ScpOptions = {to: false, from: false, recursive: false, preserve: false, targetIsDir: false, paths: []}
  let i = 0
  for (; i < args.length; i++) {
    const a = args[i]
    if (a === '--') {
      i += 1
      break
    }
    if (!a.startsWith('-') || a === '-') break
    for (const f of a.slice(1)) {
      if (f === 't') o.to = true
      else if (f === 'f') o.from = true
      else if (f === 'r') o.recursive = true
      else if (f === 'p') o.preserve = true
      else if (f === 'd') o.targetIsDir = true
      else if (f === 'v' || f === 'q' || f === 'E') continue
      else return null
    }
  }
  o.paths = args.slice(i)
  if (o.to === o.from || o.paths.length === 0 || (o.to && o.paths.length !== 1)) return null
  return o
}

/** What the client typed after host: ("~/x", "x" and "/x" all mean inside the home). */
function virtual(session: FileSession, p: string, cwd = '/'): string {
  return session.resolve(p.replace(/^~(?=\/|$)/, ''), cwd)
}

/** A name from a C/D line: one path component, never "..", ".", or a path. */
function safeName(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0')
}

class Fatal extends Error {}

abstract class ScpPeer {
  protected errors = 0
  protected readonly reader: ChannelReader
  constructor(
    protected readonly session: FileSession,
    protected readonly out: Writable,
    input: Readable,
  ) {
    this.reader = new ChannelReader(input)
  }

  protected send(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.out.write(data)) resolve()
      else this.out.once('drain', resolve)
    })
  }

  /** A non-fatal error for one file, as scp's run_err sends it; the transfer goes on, the exit status is 1. */
  protected async warn(message: string): Promise<void> {
    this.errors += 1
    await this.send(`\x01scp: ${message.replace(/\n/g, ' ')}\n`)
  }

  /** Reads the peer's acknowledgement: true when OK, false after a warning; throws on a fatal error or EOF. */
  protected async ack(): Promise<boolean> {
    const b = await this.reader.byte()
    if (b === 0) return true
    if (b === 1 || b === 2) {
      await this.reader.line()
      this.errors += 1
      if (b === 2) throw new Fatal('the client ended the transfer')
      return false
    }
    throw new Fatal(b === null ? 'the client closed the channel' : 'protocol error: unexpected reply')
  }
}

/** `scp -t target`: files and directories arrive from the client. */
class ScpSink extends ScpPeer {
  constructor(session: FileSession, out: Writable, input: Readable, private readonly o: ScpOptions) {
    super(session, out, input)
  }

  async run(): Promise<number> {
    const target = virtual(this.session, this.o.paths[0])
    const isDir = await this.session.stat(target).then((s) => s.isDirectory, () => false)
    if (this.o.targetIsDir && !isDir) {
      await this.send(`\x02scp: ${this.o.paths[0]}: Not a directory\n`)
      return 1
    }
    await this.send('\0')
    // Where the next entry goes: a directory (entries land inside it), or, at the top, the target name itself.
    const stack: {dir: string; times?: {atime: number; mtime: number}}[] = []
    let times: {atime: number; mtime: number} | undefined
    const destination = (name: string): string => {
      if (stack.length > 0) return path.posix.join(stack[stack.length - 1].dir, name)
      return isDir ? path.posix.join(target, name) : target
    }
    for (;;) {
      const line = await this.reader.line()
      if (line === null || line === '') return this.errors > 0 ? 1 : 0
      const kind = line[0]
      if (kind === '\x01' || kind === '\x02') {
        this.errors += 1
        if (kind === '\x02') return 1
        continue
      }
      if (kind === 'T') {
        const m = /^T(\d+) \d+ (\d+) \d+$/.exec(line)
        if (!m) return this.protocolError(line)
        times = {mtime: Number(m[1]), atime: Number(m[2])}
        await this.send('\0')
        continue
      }
      if (kind === 'E') {
        const left = stack.pop()
        if (!left) return this.protocolError(line)
        if (left.times && this.o.preserve) {
          await this.session.setTimes(left.dir, new Date(left.times.atime * 1000), new Date(left.times.mtime * 1000)).catch(() => {})
        }
        await this.send('\0')
        continue
      }
      const m = /^([CD])([0-7]{4}) (\d+) (.+)$/.exec(line)
      if (!m) return this.protocolError(line)
      const [, type, modeText, sizeText, name] = m
      if (!safeName(name)) {
        await this.send(`\x02scp: ${name}: invalid name\n`)
        return 1
      }
      const mode = parseInt(modeText, 8)
      const here = times
      times = undefined
      if (type === 'D') {
        if (!this.o.recursive) {
          await this.send(`\x02scp: received a directory without -r\n`)
          return 1
        }
        const dir = stack.length === 0 && !isDir ? target : destination(name)
        try {
          const st = await this.session.stat(dir).catch(() => null)
          if (st && !st.isDirectory) throw new Error('Not a directory')
          if (!st) await this.session.mkdir(dir)
        } catch (error) {
          await this.send(`\x02scp: ${dir}: ${error instanceof Error && error.message === 'Not a directory' ? error.message : strerror(error)}\n`)
          return 1
        }
        stack.push({dir, times: here})
        await this.send('\0')
        continue
      }
      await this.receiveFile(destination(name), mode, Number(sizeText), here)
    }
  }

  private async receiveFile(dest: string, mode: number, size: number, times: {atime: number; mtime: number} | undefined): Promise<void> {
    let upload: UploadHandle | null = null
    let failure: string | null = null
    try {
      upload = await this.session.openWrite(dest, {mode: mode & 0o777})
    } catch (error) {
      failure = `${dest}: ${strerror(error)}`
    }
    await this.send('\0') // scp always sends the data; a refused file is read and dropped
    let pos = 0
    const complete = await this.reader.bytes(size, async (chunk) => {
      if (!upload || failure) return
      try {
        await writeFully(upload.fd, chunk, pos)
        pos += chunk.length
      } catch (error) {
        failure = `${dest}: ${strerror(error)}`
      }
    })
    if (!complete) {
      await upload?.abort(false)
      throw new Fatal('the client closed the channel in the middle of a file')
    }
    const sent = await this.ack().catch(async (error: unknown) => {
      await upload?.abort(false)
      throw error
    })
    if (!upload) return this.warn(failure!)
    if (!sent || failure) {
      await upload.abort(false)
      if (failure) return this.warn(failure)
      return
    }
    try {
      if (this.o.preserve && this.session.can('chmod')) await fchmod(upload.fd, mode & 0o777)
      if (this.o.preserve && times) upload.setTimes(times.atime, times.mtime)
      await upload.commit()
    } catch (error) {
      await upload.abort(false)
      return this.warn(`${dest}: ${strerror(error)}`)
    }
    if (this.o.preserve && mode & 0o7000) return this.warn(`${dest}: setuid, setgid and sticky bits are not kept on user files`)
    await this.send('\0')
  }

  private async protocolError(line: string): Promise<number> {
    await this.send(`\x02scp: protocol error: unexpected "${line.slice(0, 40)}"\n`)
    return 1
  }
}

/** `scp -f path…`: files and directories go to the client. */
class ScpSource extends ScpPeer {
  constructor(session: FileSession, out: Writable, input: Readable, private readonly o: ScpOptions) {
    super(session, out, input)
  }

  async run(): Promise<number> {
    if (!(await this.ack())) return 1
    for (const p of this.o.paths) {
      const v = virtual(this.session, p)
      await this.sendEntry(v, p)
    }
    return this.errors > 0 ? 1 : 0
  }

  private async sendTimes(s: {mtime: Date; atime: Date}): Promise<boolean> {
    if (!this.o.preserve) return true
    await this.send(`T${Math.floor(s.mtime.getTime() / 1000)} 0 ${Math.floor(s.atime.getTime() / 1000)} 0\n`)
    return this.ack()
  }

  private async sendEntry(v: string, shown: string): Promise<void> {
    let st
    try {
      st = await this.session.stat(v)
    } catch (error) {
      return this.warn(`${shown}: ${strerror(error)}`)
    }
    const name = v === '/' ? '.' : path.posix.basename(v)
    if (st.isDirectory) {
      if (!this.o.recursive) return this.warn(`${shown}: not a regular file`)
      let entries
      try {
        entries = await this.session.list(v)
      } catch (error) {
        return this.warn(`${shown}: ${strerror(error)}`)
      }
      if (!(await this.sendTimes(st))) return
      await this.send(`D${(st.mode & 0o777).toString(8).padStart(4, '0')} 0 ${name === '.' ? path.posix.basename(this.session.user.home) || 'home' : name}\n`)
      if (!(await this.ack())) return
      for (const e of entries) await this.sendEntry(path.posix.join(v, e.name), path.posix.join(shown, e.name))
      await this.send('E\n')
      await this.ack()
      return
    }
    if (!st.isFile) return this.warn(`${shown}: not a regular file`)
    let file
    try {
      file = await this.session.openRead(v)
    } catch (error) {
      return this.warn(`${shown}: ${strerror(error)}`)
    }
    try {
      if (!(await this.sendTimes(st))) return
      // The size of the open file: what we send is exactly what we announce, even if the file changes.
      const size = file.size
      await this.send(`C${(st.mode & 0o777).toString(8).padStart(4, '0')} ${size} ${name}\n`)
      if (!(await this.ack())) return
      let readError: unknown = null
      for (let pos = 0; pos < size; ) {
        const want = Math.min(256 * 1024, size - pos)
        const buf = Buffer.alloc(want)
        let n = 0
        if (readError === null) {
          try {
            n = (await read(file.fd, buf, 0, want, pos)).bytesRead
          } catch (error) {
            readError = error
          }
        }
        // A short file (truncated meanwhile) or a read error: pad with zeros, then report the error, as scp does.
        if (n === 0 && readError === null) readError = new Error('file shrank while being sent')
        await this.send(n === want ? buf : buf.fill(0, n))
        pos += want
      }
      if (readError === null) await this.send('\0')
      else await this.warn(`${shown}: ${strerror(readError)}`)
      await this.ack()
    } finally {
      await file.close()
    }
  }
}

/** Runs scp in server mode; resolves to its exit status. */
export async function runScp(o: ScpOptions, session: FileSession, io: {stdin: Readable; stdout: Writable}): Promise<number> {
  const peer = o.to ? new ScpSink(session, io.stdout, io.stdin, o) : new ScpSource(session, io.stdout, io.stdin, o)
  try {
    return await peer.run()
  } catch (error) {
    if (error instanceof Fatal) return 1
    throw error
  }
}
