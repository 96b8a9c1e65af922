// First logins of one user through several processes at once (nodes on one shared storage, or workers): each
// creates the missing home directories on its way, and the one that loses the mkdir race must open what the
// winner made, not fail with "File exists". Real processes racing on a real directory.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdirSync, readdirSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {describe, it} from 'node:test'
import {tempDir} from '../helpers/node-process.js'

const PROCESSES = 6
const HOMES = 150

describe('home directories made by several processes at once', () => {
  it(`${PROCESSES} processes open the same ${HOMES} new, three-deep homes at the same moment: none fails`, {timeout: 60_000}, async () => {
    const storage = path.join(tempDir(), 'storage')
    mkdirSync(storage)
    const beneath = pathToFileURL(path.resolve('dist/src/daemon/session/beneath.js')).href
    // Each process waits for the same wall-clock moment, then opens every home (creating what is missing).
    const start = Date.now() + 1500
    const script = `
      const {Beneath} = await import(${JSON.stringify(beneath)})
      while (Date.now() < ${start}) {}
      let failed = 0
      for (let i = 0; i < ${HOMES}; i++) {
        try { Beneath.open(${JSON.stringify(storage)}, ['h' + i, 'mid', 'leaf'], true).close() }
        catch (e) { failed++; if (failed === 1) console.error(e.code, e.message) }
      }
      console.log(JSON.stringify({failed}))`
    const children = Array.from({length: PROCESSES}, () => spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'pipe']}))
    try {
      const results = await Promise.all(children.map((c) => new Promise<{failed: number; stderr: string}>((resolve, reject) => {
        let out = ''
        let err = ''
        c.stdout.on('data', (d: Buffer) => (out += d.toString()))
        c.stderr.on('data', (d: Buffer) => (err += d.toString()))
        c.once('exit', (code) => (code === 0 ? resolve({...(JSON.parse(out) as {failed: number}), stderr: err}) : reject(new Error(`exit ${code}: ${err}`))))
      })))
      assert.deepEqual(results.map((r) => r.failed), results.map(() => 0), results.map((r) => r.stderr).join(''))
      assert.equal(readdirSync(storage).length, HOMES)
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    }
  })
})
