// paramiko (Debian's python3-paramiko) SFTPClient.put and get of 50 MB, against a node and OpenSSH's sshd.
// Addresses: 127.0.40.4 (node), 127.0.40.5 (sshd).
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {clients, noOpenSsh, randomFile, sha256, startNode, startOpenSsh, type Clients, type Target} from '../helpers/interop.js'
import type {TestNode} from '../helpers/node-process.js'

const NODE = '127.0.40.4'
const SSHD = '127.0.40.5'
const PYTHON = '/usr/bin/python3'
const SIZE = 50 * 1024 * 1024

function noParamiko(): string | false {
  if (!existsSync(PYTHON)) return `skipped: ${PYTHON} missing (apt-get install python3-paramiko)`
  return false
}

const SCRIPT = `
import sys, paramiko
host, port, user, key, local, remote, back = sys.argv[1:8]
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect(host, port=int(port), username=user, key_filename=key, look_for_keys=False, allow_agent=False, timeout=20, banner_timeout=20, auth_timeout=20)
s = c.open_sftp()
s.get_channel().settimeout(60)
s.put(local, remote)
s.get(remote, back)
print(s.stat(remote).st_size)
s.close()
c.close()
`

describe('paramiko against a node (and OpenSSH)', {skip: noParamiko()}, () => {
  let c: Clients
  let node: TestNode
  const targets: Target[] = []
  let stopSshd = () => {}
  let big = ''

  before(async () => {
    const missing = noParamiko()
    if (missing) return void process.stderr.write(`NOTICE paramiko tests ${missing}\n`)
    c = clients()
    const n = await startNode(c.root, NODE, c.key + '.pub')
    node = n.node
    targets.push(n.target)
    if (!noOpenSsh()) {
      const o = await startOpenSsh(c.root, SSHD, c.key + '.pub')
      stopSshd = o.stop
      targets.push(o.target)
    }
    big = randomFile(path.join(c.root, 'big.bin'), SIZE, 3)
  })
  after(async () => {
    await c?.cleanup()
    stopSshd()
    await node?.stop()
  })

  /** One put + get of the 50 MB file; resolves to the outcome (bounded by the timeout). */
  const putGet = (t: Target, k: number) => {
    const back = path.join(c.root, `back-${t.name}-${k}.bin`)
    const run = c.run(PYTHON, ['-c', SCRIPT, t.host, String(t.port), t.user, c.key, big, t.remote(`p${k}.bin`), back], {timeoutMs: 90_000})
    return run.then((r) => ({...r, back}))
  }

  it('SFTPClient.put and get of 50 MB complete and are identical (ours and OpenSSH)', async () => {
    for (const t of targets) {
      const r = await putGet(t, 0)
      assert.equal(r.code, 0, `${t.name}: ${r.stderr}`)
      assert.equal(r.stdout.trim(), String(SIZE), t.name)
      assert.equal(sha256(path.join(t.home, 'p0.bin')), sha256(big), `${t.name} upload identical`)
      assert.equal(sha256(r.back), sha256(big), `${t.name} download identical`)
    }
  })

  it(`paramiko put repeated (PARAMIKO_REPEAT, default 1) all complete`, async () => {
    const n = Number(process.env.PARAMIKO_REPEAT ?? 1)
    let ok = 0
    for (let k = 1; k <= n; k++) {
      const r = await putGet(targets[0], k)
      assert.equal(r.code, 0, `run ${k}: ${r.stderr}`)
      assert.equal(sha256(path.join(targets[0].home, `p${k}.bin`)), sha256(big), `run ${k}`)
      ok += 1
    }
    if (n > 1) process.stderr.write(`paramiko put+get of 50 MB: ${ok}/${n} ok\n`)
  })
})
