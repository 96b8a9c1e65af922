// Issue 9, attack 2: the same name uploaded at once through two nodes that share one storage, 5 rounds
// (FTP+FTP, SFTP+FTP, SFTP+SFTP…), against two real node processes. Each round ends with exactly one complete
// file under the name, from the client that was told "done"; the other client got a refusal. Never a mixture.
// Addresses: 127.0.50.3, 127.0.50.4.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {needsParamiko, runPy, startNodeWithUser, USER_PASSWORD} from '../helpers/attack-node.js'
import {tempDir, type TestNode} from '../helpers/node-process.js'

const A = '127.0.50.3'
const B = '127.0.50.4'
const PORTS = {sftp: '2222', ftp: '2121'}
const ROUNDS: ['sftp' | 'ftp', 'sftp' | 'ftp'][] = [['ftp', 'ftp'], ['sftp', 'ftp'], ['ftp', 'sftp'], ['sftp', 'sftp'], ['ftp', 'ftp']]

describe('attack: one name uploaded through two nodes on shared storage', () => {
  const skip = needsParamiko()
  const root = tempDir()
  const storage = path.join(root, 'shared')
  const nodes: TestNode[] = []

  before(async () => {
    if (skip) return
    mkdirSync(storage)
    nodes.push(await startNodeWithUser(root, A, storage), await startNodeWithUser(root, B, storage))
  })
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
  })

  it('5 rounds: exactly one complete file, from the confirmed client; the other is refused', {skip, timeout: 180_000}, async () => {
    for (const [i, [pa, pb]] of ROUNDS.entries()) {
      const a = randomBytes(1024 * 1024)
      const b = randomBytes(1024 * 1024)
      const fa = path.join(root, `a${i}.bin`)
      const fb = path.join(root, `b${i}.bin`)
      writeFileSync(fa, a)
      writeFileSync(fb, b)
      const [ra, rb] = await Promise.all([
        runPy('upload.py', [pa, A, PORTS[pa], 'alice', USER_PASSWORD, fa, 'same.bin', '0.1'], 60_000),
        runPy('upload.py', [pb, B, PORTS[pb], 'alice', USER_PASSWORD, fb, 'same.bin', '0.1'], 60_000),
      ])
      const final = readFileSync(path.join(storage, 'alice', 'same.bin'))
      const okA = ra.code === 0
      const okB = rb.code === 0
      const round = `round ${i + 1} (${pa} via A, ${pb} via B): A ${ra.stdout.trim()} | B ${rb.stdout.trim()}`
      assert.ok(okA !== okB, `exactly one upload is confirmed — ${round}`)
      assert.ok(final.equals(okA ? a : b), `the file is the confirmed client's, complete — ${round}`)
      assert.match(okA ? rb.stdout : ra.stdout, /450|in progress|busy/i, `the other client is told why — ${round}`)
      const left = readdirSync(path.join(storage, 'alice')).filter((n) => n !== 'same.bin')
      assert.deepEqual(left, [], `no part or lock left behind — ${round}`)
    }
  })
})
