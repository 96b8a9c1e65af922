// rclone's sftp backend: copy a 300-file tree to a node, then `rclone check` with md5 hashes, which rclone
// gets by running md5sum over exec on the node: 0 differences, 0 unchecked. Address: 127.0.40.8.
import assert from 'node:assert/strict'
import {closeSync, mkdirSync, openSync, readSync, statSync, utimesSync, writeSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {clients, randomFile, startNode, type Clients, type Target} from '../helpers/interop.js'
import type {TestNode} from '../helpers/node-process.js'
import {needs} from '../helpers/tools.js'

const NODE = '127.0.40.8'
const FILES = 300

describe('rclone sftp against a node', {skip: needs('rclone')}, () => {
  let c: Clients
  let node: TestNode
  let t: Target
  let remote = ''

  before(async () => {
    c = clients()
    const n = await startNode(c.root, NODE, c.key + '.pub')
    node = n.node
    t = n.target
    // A connection string, no config file: key file, no known_hosts check (a fresh host key per run).
    remote = `:sftp,host=${t.host},port=${t.port},user=${t.user},key_file=${JSON.stringify(c.key)}:`
  })
  after(async () => {
    await c?.cleanup()
    await node?.stop()
  })

  const rclone = (args: string[]) =>
    c.run('rclone', [...args, '--config', '/dev/null', '--low-level-retries', '1', '--retries', '1', '--contimeout', '10s', '--timeout', '30s'], {timeoutMs: 120_000, env: {...process.env, RCLONE_CONFIG: '/dev/null'}})

  it(`check with md5 over ${FILES} files: 0 differences, 0 unchecked`, async () => {
    const src = path.join(c.root, 'tree')
    for (let k = 0; k < FILES; k++) {
      const dir = path.join(src, `d${k % 10}`, `e${k % 3}`)
      mkdirSync(dir, {recursive: true})
      randomFile(path.join(dir, `f${k}.bin`), (k * 977) % 70_000, k + 1)
    }
    const copy = await rclone(['copy', src, `${remote}tree`, '--transfers', '4'])
    assert.equal(copy.code, 0, copy.stderr)
    const check = await rclone(['check', src, `${remote}tree`, '--one-way=false', '-v'])
    assert.equal(check.code, 0, check.stderr)
    assert.match(check.stderr, /0 differences found/, check.stderr)
    assert.match(check.stderr, new RegExp(`${FILES} matching files`), check.stderr)
    assert.doesNotMatch(check.stderr, /hashes could not be checked|no hashes in common|unchecked/i, check.stderr)
    assert.doesNotMatch(check.stderr, /No common hash/i, check.stderr)
    // The command given: rclone 1.60 answers "hash unsupported" to lookups racing its first hash-command probe.
    // One byte changed on the node, same size and time: only a hash comparison can see it.
    const victim = path.join(t.home, 'tree', 'd7', 'e1', 'f7.bin')
    const before = statSync(victim)
    const fd = openSync(victim, 'r+')
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, 100)
    writeSync(fd, Buffer.from([b[0] ^ 0xff]), 0, 1, 100)
    closeSync(fd)
    utimesSync(victim, before.atime, before.mtime)
    const again = await rclone(['check', src, `${remote}tree`])
    assert.equal(again.code, 1, again.stderr)
    assert.match(again.stderr, /1 differences found/, again.stderr)
    const sums = await rclone(['md5sum', `${remote.slice(0, -1)},md5sum_command=md5sum:tree/d1`])
    assert.equal(sums.code, 0, sums.stderr)
    assert.equal(sums.stdout.trim().split('\n').length, FILES / 10)
  })
})
