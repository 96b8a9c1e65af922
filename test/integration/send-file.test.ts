// sendFile (session/send-file.ts) into real HTTP responses over loopback 127.0.140.5: a range arrives byte for
// byte, a client that hangs up mid-way makes it reject (not wait on write callbacks that never run), and a
// file shorter than promised rejects.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {closeSync, mkdtempSync, openSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {sendFile} from '../../src/daemon/session/send-file.js'

const HOST = '127.0.140.5'
const SIZE = 9 * 1024 * 1024 + 12345 // several 1 MiB chunks and a short last one

/** Fails after `ms` so a hang shows up as a failure, not as the runner's timeout. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)))
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

describe('sendFile into an HTTP response', () => {
  let dir: string
  let file: string
  let data: Buffer
  let server: http.Server
  let port: number
  /** What the next request does: send `start`/`length`, and report how sendFile settled. */
  let next: {start: number; length: number; settled: (r: {ok: true; sent: number} | {ok: false; error: Error}) => void}

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'send-file-'))
    file = path.join(dir, 'f.bin')
    data = randomBytes(SIZE)
    writeFileSync(file, data)
    server = http.createServer((req, res) => {
      const {start, length, settled} = next
      const fd = openSync(file, 'r')
      res.writeHead(200, {'content-length': length})
      sendFile(fd, res, start, length, () => {}, (m) => new Error(m))
        .then((sent) => {
          res.end()
          settled({ok: true, sent})
        }, (error: Error) => {
          res.destroy()
          settled({ok: false, error})
        })
        .finally(() => closeSync(fd))
    })
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
    port = (server.address() as AddressInfo).port
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    rmSync(dir, {recursive: true, force: true})
  })

  it('sends the requested range byte for byte', async () => {
    const start = 777
    const length = SIZE - start - 1000
    const result = new Promise<{ok: boolean}>((resolve) => (next = {start, length, settled: resolve}))
    const body = await within(new Promise<Buffer>((resolve, reject) => {
      http.get({host: HOST, port, path: '/'}, (res) => {
        const parts: Buffer[] = []
        res.on('data', (c: Buffer) => parts.push(c))
        res.on('end', () => resolve(Buffer.concat(parts)))
        res.on('error', reject)
      }).on('error', reject)
    }), 60_000, 'the download')
    assert.equal(body.length, length)
    assert.ok(body.equals(data.subarray(start, start + length)))
    assert.deepEqual(await result, {ok: true, sent: length})
  })

  it('rejects when the client hangs up mid-way', async () => {
    const result = new Promise<{ok: boolean; error?: Error}>((resolve) => (next = {start: 0, length: SIZE, settled: resolve}))
    await new Promise<void>((resolve) => {
      const req = http.get({host: HOST, port, path: '/'}, (res) => {
        res.once('data', () => {
          req.destroy()
          resolve()
        })
      })
      req.on('error', () => {})
    })
    const r = await within(result, 60_000, 'sendFile after the hang-up')
    assert.equal(r.ok, false)
  })

  it('rejects when the file holds fewer bytes than promised', async () => {
    const result = new Promise<{ok: boolean; error?: Error}>((resolve) => (next = {start: SIZE - 10, length: 100, settled: resolve}))
    await new Promise<void>((resolve) => {
      const req = http.get({host: HOST, port, path: '/'}, (res) => {
        res.resume()
        res.on('close', resolve)
        res.on('error', () => resolve())
      })
      req.on('error', () => resolve())
    })
    const r = await within(result, 60_000, 'sendFile of a short file')
    assert.equal(r.ok, false)
    assert.match(r.error!.message, /ended after 10 of 100 bytes/)
  })
})
