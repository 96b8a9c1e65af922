// `cluster demo --stripe` end to end: a gateway and 3 storage nodes on 127.0.113.2-5, the printed curl lines
// work against port 2100 (passive through the gateway, active from a storage node), lftp lists the file,
// `stripe status` shows 3 nodes up, and Ctrl-C stops everything and removes the data.
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'
import type {StripeStatus} from '../../src/protocol/index.js'
import {runCli} from '../helpers/cli.js'
import {tempDir} from '../helpers/node-process.js'
import {CLI} from '../helpers/paths.js'
import {hasTool, needs} from '../helpers/tools.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('cluster demo --stripe', () => {
  it('starts a gateway and 3 storage nodes, serves FTP on port 2100, and cleans up on Ctrl-C', {skip: needs('curl'), timeout: 120_000}, async () => {
    const work = tempDir()
    // its own process group, so a failed test can kill the demo and its nodes in one go
    const child = spawn(process.execPath, [CLI, 'demo', '--stripe', '--address', '127.0.113.2'], {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, NO_COLOR: '1'}, detached: true})
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`demo not running within 90 s:\n${err}`)), 90_000)
        child.stdout.on('data', () => {
          if (out.includes('Press Ctrl-C')) {
            clearTimeout(t)
            resolve()
          }
        })
        child.on('exit', (code) => reject(new Error(`demo exited ${code}:\n${err}`)))
      })
      assert.match(out, /Gateway\s+127\.0\.113\.2 .*port 2100/)
      assert.match(out, /Storage nodes\s+127\.0\.113\.3, 127\.0\.113\.4, 127\.0\.113\.5/)
      assert.match(out, /curl -T README\.md -u demo:demo-password ftp:\/\/127\.0\.113\.2:2100\//)
      assert.match(out, /lftp -u demo,demo-password .*ftp:\/\/127\.0\.113\.2:2100/)
      const dataDir = /Data in (\S+)\./.exec(out)![1]
      const password = /user admin, password (\S+)/.exec(out)![1]
      const file = path.join(work, 'payload.bin')
      const payload = randomBytes(2 * 1024 * 1024 + 5)
      writeFileSync(file, payload)
      const url = 'ftp://127.0.113.2:2100/payload.bin'
      const up = spawnSync('curl', ['-sS', '--fail', '-T', file, '-u', 'demo:demo-password', url], {encoding: 'utf8', timeout: 30_000})
      assert.equal(up.status, 0, up.stderr)
      for (const mode of [[], ['-P', '-']]) {
        const down = path.join(work, `down${mode.length}.bin`)
        const get = spawnSync('curl', ['-sS', '--fail', ...mode, '-o', down, '-u', 'demo:demo-password', url], {encoding: 'utf8', timeout: 30_000})
        assert.equal(get.status, 0, get.stderr)
        assert.equal(sha(readFileSync(down)), sha(payload), `the same bytes back (${mode.length ? 'active' : 'passive'})`)
      }
      if (hasTool('lftp')) {
        const ls = spawnSync('lftp', ['-u', 'demo,demo-password', '-e', 'set ssl:verify-certificate no; set net:max-retries 1; ls; bye', 'ftp://127.0.113.2:2100'], {encoding: 'utf8', timeout: 30_000})
        assert.equal(ls.status, 0, ls.stderr)
        assert.match(ls.stdout, /payload\.bin/)
      }
      const st = await runCli(['stripe', 'status', '--json'], {env: {CLUSTER_PRIMARY: '127.0.113.2', CLUSTER_PASSWORD: password, CLUSTER_CONFIG_DIR: path.join(work, 'cli')}})
      assert.equal(st.code, 0, st.stderr)
      const s = st.json<StripeStatus>()
      assert.deepEqual([s.gateway, s.replicas, s.nodes.map((n) => n.state), s.totals.files], ['127.0.113.2:2100', 2, ['up', 'up', 'up'], 1])
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
