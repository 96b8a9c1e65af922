// Issue 9, attack 1: a storage-side actor swaps a directory of a home with a symlink to outside
// (renameat2 RENAME_EXCHANGE) in a loop while paramiko (SFTP) and ftplib (FTP) read, write and chmod through
// it, against a real node process. Zero escapes. ATTACK_RACE_SECONDS lengthens it (default 10).
// Addresses: 127.0.50.2.
import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {needsParamiko, runPy, startNodeWithUser, USER_PASSWORD} from '../helpers/attack-node.js'
import {tempDir, type TestNode} from '../helpers/node-process.js'

const A = '127.0.50.2'
const SECONDS = Number(process.env.ATTACK_RACE_SECONDS ?? 10)
const SECRET = 'SECRET-outside-the-home'

describe('attack: symlink swap race against a real node', () => {
  const skip = needsParamiko()
  const root = tempDir()
  const storage = path.join(root, 'storage')
  const outside = path.join(storage, 'outside')
  const home = path.join(storage, 'alice')
  let node: TestNode

  before(async () => {
    if (skip) return
    mkdirSync(path.join(home, 'd'), {recursive: true})
    mkdirSync(outside)
    writeFileSync(path.join(outside, 'f'), SECRET)
    chmodSync(path.join(outside, 'f'), 0o644)
    writeFileSync(path.join(home, 'd', 'f'), 'inside')
    symlinkSync(outside, path.join(home, 's'))
    node = await startNodeWithUser(root, A, storage)
  })
  after(async () => {
    await node?.stop()
  })

  it(`reads, writes and chmods over SFTP and FTP for ${SECONDS} s while d and a symlink out trade places: zero escapes`, {skip, timeout: (SECONDS + 60) * 1000}, async () => {
    const ms = (SECONDS + 30) * 1000
    const [swap, sftp, ftp] = await Promise.all([
      runPy('swapper.py', [path.join(home, 'd'), path.join(home, 's'), String(SECONDS)], ms),
      runPy('race_client.py', ['sftp', A, '2222', 'alice', USER_PASSWORD, String(SECONDS), SECRET], ms),
      runPy('race_client.py', ['ftp', A, '2121', 'alice', USER_PASSWORD, String(SECONDS), SECRET], ms),
    ])
    assert.equal(swap.code, 0, swap.stderr)
    assert.equal(sftp.code, 0, sftp.stderr)
    assert.equal(ftp.code, 0, ftp.stderr)
    const s = JSON.parse(sftp.stdout) as Record<string, number>
    const f = JSON.parse(ftp.stdout) as Record<string, number>
    process.stderr.write(`race: ${swap.stdout.trim()} swaps; sftp ${sftp.stdout.trim()}; ftp ${ftp.stdout.trim()}\n`)
    assert.ok(Number(swap.stdout) > 1000, 'the swapper really raced')
    assert.ok(s.reads > 0 && f.reads > 0, 'some operations went through while the directory was in place')
    assert.equal(s.escapes, 0, 'SFTP reads never returned the outside file')
    assert.equal(f.escapes, 0, 'FTP reads never returned the outside file')
    assert.deepEqual(readdirSync(outside), ['f'], 'nothing was written outside the home')
    assert.equal(statSync(path.join(outside, 'f')).mode & 0o777, 0o644, 'chmod never reached the outside file')
    assert.equal(readFileSync(path.join(outside, 'f'), 'utf8'), SECRET)
  })
})
