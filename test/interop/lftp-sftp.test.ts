// lftp over sftp: 20 uploads of 1 MB in one session (lftp pipelines WRITE, FSETSTAT and CLOSE), each
// identical on the node. Address: 127.0.40.7.
import assert from 'node:assert/strict'
import {readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {clients, randomFile, sha256, startNode, type Clients, type Target} from '../helpers/interop.js'
import type {TestNode} from '../helpers/node-process.js'
import {needs} from '../helpers/tools.js'

const NODE = '127.0.40.7'
const COUNT = Number(process.env.LFTP_UPLOADS ?? 20)

describe('lftp sftp uploads to a node', {skip: needs('lftp', 'ssh')}, () => {
  let c: Clients
  let node: TestNode
  let t: Target

  before(async () => {
    c = clients()
    const n = await startNode(c.root, NODE, c.key + '.pub')
    node = n.node
    t = n.target
  })
  after(async () => {
    await c?.cleanup()
    await node?.stop()
  })

  it(`${COUNT} uploads of 1 MB are all identical, none left as a part file`, async () => {
    const files: string[] = []
    for (let k = 0; k < COUNT; k++) files.push(randomFile(path.join(c.root, `f${k}.bin`), 1024 * 1024, 100 + k))
    const connect = `ssh -a -x ${c.sshOptions(t).join(' ')}`
    const script = [
      `set sftp:connect-program "${connect}"`, 'set net:max-retries 1', 'set net:timeout 20', 'set cmd:fail-exit yes',
      `open -u ${t.user}, sftp://${t.host}:${t.port}`,
      ...files.map((f) => `put ${f} -o up-${path.basename(f)}`),
      'bye', '',
    ].join('\n')
    // A script file: lftp cannot open /dev/stdin when stdin is node's socket pair.
    const file = path.join(c.root, 'lftp-script')
    writeFileSync(file, script)
    const r = await c.run('lftp', ['-f', file], {timeoutMs: 120_000})
    assert.equal(r.code, 0, r.stderr + r.stdout)
    let identical = 0
    for (const f of files) {
      if (sha256(path.join(t.home, `up-${path.basename(f)}`)) === sha256(f)) identical += 1
    }
    assert.equal(identical, COUNT, `${identical}/${COUNT} identical`)
    assert.deepEqual(readdirSync(t.home).filter((n) => n.endsWith('.ftpcluster-part')), [])
  })
})
