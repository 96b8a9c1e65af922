// sshfs: create, write, rename and delete a file through a FUSE mount of the node (sshfs sends OPEN(create)
// and LSTAT together and depends on the order of their replies). Address: 127.0.40.6.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, promises as fsp, readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {clients, startNode, type Clients, type Target} from '../helpers/interop.js'
import type {TestNode} from '../helpers/node-process.js'
import {until} from '../helpers/sftp-fixture.js'
import {needs} from '../helpers/tools.js'

const NODE = '127.0.40.6'
const REPEAT = Number(process.env.SSHFS_REPEAT ?? 3)

function skipReason(): string | false {
  if (!existsSync('/dev/fuse')) {
    process.stderr.write('NOTICE sshfs tests skipped: /dev/fuse is missing\n')
    return 'skipped: /dev/fuse is missing'
  }
  return needs('sshfs', 'fusermount3')
}

describe('sshfs on a node', {skip: skipReason()}, () => {
  let c: Clients
  let node: TestNode
  let t: Target
  let mnt = ''

  before(async () => {
    c = clients()
    const n = await startNode(c.root, NODE, c.key + '.pub')
    node = n.node
    t = n.target
    mnt = path.join(c.root, 'mnt')
    mkdirSync(mnt)
    const r = await c.run('sshfs', [
      `${t.user}@${t.host}:/`, mnt, '-p', String(t.port), '-o', `IdentityFile=${c.key}`, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
    ], {timeoutMs: 30_000})
    assert.equal(r.code, 0, `sshfs mount: ${r.stderr}`)
    await until(() => spawnSync('mountpoint', ['-q', mnt]).status === 0, 10_000, 'the sshfs mount')
  })
  after(async () => {
    if (mnt) spawnSync('fusermount3', ['-u', '-z', mnt])
    await c?.cleanup()
    await node?.stop()
  })

  it(`create, write, rename and delete a file (${REPEAT} rounds; SSHFS_REPEAT to change)`, async () => {
    let ok = 0
    for (let k = 0; k < REPEAT; k++) {
      const name = path.join(mnt, `new-${k}.txt`)
      const body = `round ${k}\n`.repeat(1000)
      await fsp.writeFile(name, body)
      // sshfs sends CLOSE (our commit) after close(2) has returned: the final name appears a moment later.
      const onDisk = path.join(t.home, `new-${k}.txt`)
      await until(() => existsSync(onDisk), 10_000, `round ${k}: the upload committed`)
      assert.equal(readFileSync(onDisk, 'utf8'), body, `round ${k}: written`)
      await fsp.rename(name, path.join(mnt, `renamed-${k}.txt`))
      assert.equal(readFileSync(path.join(t.home, `renamed-${k}.txt`), 'utf8'), body, `round ${k}: renamed`)
      await fsp.unlink(path.join(mnt, `renamed-${k}.txt`))
      assert.equal(existsSync(path.join(t.home, `renamed-${k}.txt`)), false, `round ${k}: deleted`)
      ok += 1
    }
    assert.deepEqual(readdirSync(t.home).filter((n) => !n.endsWith('.ftpcluster-lock')), [])
    if (REPEAT > 3) process.stderr.write(`sshfs create/write/rename/delete: ${ok}/${REPEAT} ok\n`)
  })
})
