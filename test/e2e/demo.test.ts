// `cluster demo` end to end: the README's first command. A user added on the primary uploads through one
// node and downloads the same bytes through another (shared storage). Addresses: 127.0.12.0/24 only.
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, writeFileSync, readFileSync} from 'node:fs'
import {randomBytes, createHash} from 'node:crypto'
import path from 'node:path'
import {describe, it} from 'node:test'
import {CLI} from '../helpers/paths.js'
import {tempDir} from '../helpers/node-process.js'
import {needs} from '../helpers/tools.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('cluster demo', () => {
  it('starts 3 nodes, serves the same files through every node, and cleans up on Ctrl-C', {skip: needs('curl'), timeout: 90_000}, async () => {
    const work = tempDir()
    // Its own process group, so a failed test can kill the demo and the nodes it started in one go.
    const child = spawn(process.execPath, [CLI, 'demo', '--nodes', '3', '--address', '127.0.12.2'], {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1'}, detached: true})
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`demo not running within 60 s:\n${err}`)), 60_000)
        child.stdout.on('data', () => {
          if (out.includes('Press Ctrl-C')) {
            clearTimeout(t)
            resolve()
          }
        })
        child.on('exit', (code) => reject(new Error(`demo exited ${code}:\n${err}`)))
      })
      const dataDir = /Data in (\S+)\./.exec(out)![1]
      assert.match(out, /Secondaries\s+127\.0\.12\.3, 127\.0\.12\.4/)
      const file = path.join(work, 'payload.bin')
      const payload = randomBytes(3 * 1024 * 1024 + 17)
      writeFileSync(file, payload)
      const up = spawnSync('curl', ['-sS', '--fail', '-T', file, '-u', 'demo:demo-password', 'ftp://127.0.12.3:2121/payload.bin'], {encoding: 'utf8', timeout: 30_000})
      assert.equal(up.status, 0, up.stderr)
      const down = path.join(work, 'down.bin')
      const get = spawnSync('curl', ['-sS', '--fail', '-o', down, '-u', 'demo:demo-password', 'ftp://127.0.12.4:2121/payload.bin'], {encoding: 'utf8', timeout: 30_000})
      assert.equal(get.status, 0, get.stderr)
      assert.equal(sha(readFileSync(down)), sha(payload), 'the same bytes through another node')
      const viaSftp = spawnSync('curl', ['-sS', '--fail', '--insecure', '-o', path.join(work, 'sftp.bin'), '-u', 'demo:demo-password', 'sftp://127.0.12.2:2222/payload.bin'], {encoding: 'utf8', timeout: 30_000})
      if (viaSftp.status === 0) assert.equal(sha(readFileSync(path.join(work, 'sftp.bin'))), sha(payload))
      child.kill('SIGINT')
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
      assert.equal(code, 0, err)
      assert.match(err, /demo cluster stopped and cleaned up/)
      assert.equal(existsSync(dataDir), false, 'the demo data was removed')
    } finally {
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {}
      }
    }
  })
})
