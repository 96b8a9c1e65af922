// Pipelined SFTP against a real node, with a raw client that never waits: bursts of OPEN/WRITE/READ/FSETSTAT/
// FSTAT/CLOSE/STAT on several handles, replies checked against a sequential model (the order OpenSSH's
// sftp-server gives), 10 seeds. Then the fidelity cases (modes, chown, truncate, refusals with reasons).
// Addresses: 127.0.41.2 (node).
import assert from 'node:assert/strict'
import {existsSync, readFileSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {clients, startNode, type Clients, type Target} from '../helpers/interop.js'
import type {TestNode} from '../helpers/node-process.js'
import {FX, PFLAGS, R, RawSftp, T, attrs, str, u32, u64, type Reply} from '../helpers/raw-sftp.js'
import {needs} from '../helpers/tools.js'

const NODE = '127.0.41.2'
const SEEDS = Number(process.env.PIPELINE_SEEDS ?? 10)
/** Beyond ext4's largest file (16 TiB): the write fails with EFBIG there; file systems that take it, take it. */
const HUGE = 2 ** 45

function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** What a sequential server holds for one upload. */
interface FileModel {
  name: string
  content: Buffer
  handle: Buffer
  open: boolean
  failed: boolean
  committed: boolean
  mode?: number
  mtime?: number // known only while no write came after the FSETSTAT
  /** The huge write was taken (a sparse file system): its content is no longer modelled. */
  wild?: boolean
}

/** One request sent and what the model says its reply must be (checked when the reply arrives, in order). */
interface Expectation {
  file: FileModel
  id: number
  what: string
  check(r: Reply): void
}

function grow(b: Buffer, end: number): Buffer {
  if (b.length >= end) return b
  const out = Buffer.alloc(end)
  b.copy(out)
  return out
}

describe('SFTP pipelining and fidelity against a node', {skip: needs('ssh-keygen')}, () => {
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

  const connect = () => RawSftp.connect({host: t.host, port: t.port, username: t.user, privateKeyFile: c.key})

  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`random bursts on several handles, seed ${seed}: replies in request order, contents as the model says`, async () => {
      const rnd = prng(seed)
      const int = (n: number) => Math.floor(rnd() * n)
      const s = await connect()
      try {
        const files: FileModel[] = []
        // Phase 1: a burst of OPENs with STATs of the new names in between (sshfs does OPEN + LSTAT).
        const count = 3 + int(3)
        const ids: number[] = []
        for (let k = 0; k < count; k++) {
          const name = `s${seed}-f${k}.bin`
          ids.push(s.send(T.OPEN, str(name), u32(PFLAGS.WRITE | PFLAGS.CREAT | PFLAGS.TRUNC | PFLAGS.READ), attrs()))
          s.send(T.LSTAT, str(name))
          files.push({name, content: Buffer.alloc(0), handle: Buffer.alloc(0), open: true, failed: false, committed: false})
        }
        const opened = await s.take(2 * count)
        assert.deepEqual(opened.map((r) => r.id), Array.from({length: 2 * count}, (_, k) => ids[0] + k), 'replies in request order')
        for (let k = 0; k < count; k++) {
          assert.equal(opened[2 * k].type, R.HANDLE, `OPEN ${files[k].name}: ${opened[2 * k].message}`)
          files[k].handle = opened[2 * k].data!
          assert.equal(opened[2 * k + 1].type, R.ATTRS, `LSTAT after OPEN(create) sees the new file: ${opened[2 * k + 1].message}`)
          assert.equal(opened[2 * k + 1].attrs!.size, 0)
        }
        // Phase 2: one burst of random requests on every handle, sent without waiting.
        const expected: Expectation[] = []
        const hugeOn = int(count)
        let hugeSent = false
        const ops = 150 + int(100)
        for (let k = 0; k < ops; k++) {
          const f = files[int(files.length)]
          const dice = rnd()
          if (!f.open) {
            // After CLOSE the handle is gone; a STAT tells whether the upload was committed.
            const id = s.send(T.STAT, str(f.name))
            expected.push({file: f, id, what: `STAT ${f.name} after CLOSE`, check: (r) => {
              if (f.failed) return assert.equal(r.code, FX.NO_SUCH_FILE, 'a failed upload leaves no file')
              assert.equal(r.type, R.ATTRS, r.message)
              assert.equal(r.attrs!.size, f.content.length)
              if (f.mode !== undefined) assert.equal(r.attrs!.mode! & 0o777, f.mode)
              if (f.mtime !== undefined) assert.equal(r.attrs!.mtime, f.mtime)
            }})
            continue
          }
          if (dice < 0.45) {
            // WRITE at a random offset, often overlapping earlier ones; once per seed a write that cannot land.
            const huge = !hugeSent && f === files[hugeOn] && k > ops / 3
            const offset = huge ? HUGE : int(200_000)
            const data = Buffer.alloc(1 + int(40_000), (seed * 31 + k) & 0xff)
            if (huge) hugeSent = true
            const id = s.send(T.WRITE, str(f.handle), u64(offset), str(data))
            expected.push({file: f, id, what: `WRITE ${f.name} @${offset}+${data.length}`, check: (r) => {
              assert.equal(r.type, R.STATUS)
              if (f.failed) return assert.notEqual(r.code, FX.OK, 'writes after a failed write fail')
              if (huge && r.code !== FX.OK) {
                f.failed = true
                return
              }
              assert.equal(r.code, FX.OK, r.message)
              if (huge) return void (f.wild = true)
              f.content = grow(f.content, offset + data.length)
              data.copy(f.content, offset)
              f.mtime = undefined
            }})
          } else if (dice < 0.7) {
            const offset = int(220_000)
            const len = 1 + int(70_000)
            const id = s.send(T.READ, str(f.handle), u64(offset), u32(len))
            expected.push({file: f, id, what: `READ ${f.name} @${offset}+${len}`, check: (r) => {
              if (f.failed) return
              if (offset >= f.content.length) return assert.equal(r.code, FX.EOF, `EOF expected, got type ${r.type}`)
              assert.equal(r.type, R.DATA, r.message)
              assert.ok(r.data!.equals(f.content.subarray(offset, Math.min(offset + len, f.content.length))), 'READ sees every earlier WRITE')
            }})
          } else if (dice < 0.8) {
            const mode = [0o600, 0o640, 0o644, 0o664][int(4)]
            const mtime = 1_500_000_000 + int(1_000_000)
            const id = s.send(T.FSETSTAT, str(f.handle), attrs({mode, mtime}))
            expected.push({file: f, id, what: `FSETSTAT ${f.name}`, check: (r) => {
              assert.equal(r.code, FX.OK, r.message)
              f.mode = mode
              f.mtime = mtime
            }})
          } else if (dice < 0.9) {
            const id = s.send(T.FSTAT, str(f.handle))
            expected.push({file: f, id, what: `FSTAT ${f.name}`, check: (r) => {
              assert.equal(r.type, R.ATTRS, r.message)
              if (!f.failed) assert.equal(r.attrs!.size, f.content.length)
            }})
          } else if (dice < 0.95) {
            const id = s.send(T.STAT, str(f.name))
            expected.push({file: f, id, what: `STAT ${f.name} while open`, check: (r) => {
              assert.equal(r.type, R.ATTRS, r.message)
              if (!f.failed) assert.equal(r.attrs!.size, f.content.length, 'a STAT sees the upload so far')
            }})
          } else {
            f.open = false
            const id = s.send(T.CLOSE, str(f.handle))
            expected.push({file: f, id, what: `CLOSE ${f.name}`, check: (r) => {
              assert.equal(r.type, R.STATUS)
              if (f.failed) return assert.notEqual(r.code, FX.OK, 'CLOSE after a failed WRITE fails')
              assert.equal(r.code, FX.OK, r.message)
              f.committed = true
            }})
          }
        }
        for (const f of files) {
          if (!f.open) continue
          f.open = false
          const id = s.send(T.CLOSE, str(f.handle))
          expected.push({file: f, id, what: `final CLOSE ${f.name}`, check: (r) => {
            if (f.failed) return assert.notEqual(r.code, FX.OK, 'CLOSE after a failed WRITE fails')
            assert.equal(r.code, FX.OK, r.message)
            f.committed = true
          }})
        }
        const replies = await s.take(expected.length, 60_000)
        for (let k = 0; k < expected.length; k++) {
          const e = expected[k]
          assert.equal(replies[k].id, e.id, `reply ${k} answers request ${e.id} (${e.what}), not ${replies[k].id}`)
          if (e.file.wild) continue
          try {
            e.check(replies[k])
          } catch (error) {
            throw new Error(`seed ${seed}, request ${e.id} ${e.what}: ${(error as Error).message}`)
          }
        }
        for (const f of files) {
          const onDisk = path.join(t.home, f.name)
          if (f.wild) continue
          if (f.failed) {
            assert.equal(existsSync(onDisk), false, `${f.name}: a failed upload is never committed`)
            continue
          }
          assert.ok(readFileSync(onDisk).equals(f.content), `${f.name}: final content as the model says`)
          if (f.mode !== undefined) assert.equal(statSync(onDisk).mode & 0o777, f.mode, `${f.name}: mode as given`)
        }
        assert.deepEqual(readdirSync(t.home).filter((n) => n.endsWith('.ftpcluster-part')), [], 'no part file left')
        assert.equal(await s.end(), 0, 'exit-status 0 after the client closes the subsystem')
      } finally {
        s.close()
      }
    })
  }

  it('fidelity: chown refused, setuid refused, truncate works, symlink/hardlink/unknown extensions refused with their names', async () => {
    writeFileSync(path.join(t.home, 'fid.txt'), 'hello world\n')
    const s = await connect()
    try {
      const st = await s.call(T.STAT, str('fid.txt'))
      const uid = st.attrs!.uid!
      const chown = await s.call(T.SETSTAT, str('fid.txt'), attrs({uid: uid + 1, gid: st.attrs!.gid}))
      assert.equal(chown.code, FX.OP_UNSUPPORTED)
      assert.match(chown.message!, /owner or group .* not supported/)
      const same = await s.call(T.SETSTAT, str('fid.txt'), attrs({uid, gid: st.attrs!.gid}))
      assert.equal(same.code, FX.OK, 'the current owner is no change')
      const suid = await s.call(T.SETSTAT, str('fid.txt'), attrs({mode: 0o4755}))
      assert.equal(suid.code, FX.PERMISSION_DENIED)
      assert.match(suid.message!, /setuid, setgid and sticky bits are not allowed/)
      assert.equal(await s.call(T.SETSTAT, str('fid.txt'), attrs({mode: 0o664})).then((r) => r.code), FX.OK)
      assert.equal(statSync(path.join(t.home, 'fid.txt')).mode & 0o7777, 0o664, 'mode kept as given')
      const trunc = await s.call(T.SETSTAT, str('fid.txt'), attrs({size: 5}))
      assert.equal(trunc.code, FX.OK, trunc.message)
      assert.equal(readFileSync(path.join(t.home, 'fid.txt'), 'utf8'), 'hello')
      const link = await s.call(T.SYMLINK, str('fid.txt'), str('link.txt'))
      assert.equal(link.code, FX.OP_UNSUPPORTED)
      assert.match(link.message!, /symbolic links is not supported/)
      const readlink = await s.call(T.READLINK, str('fid.txt'))
      assert.equal(readlink.code, FX.OP_UNSUPPORTED)
      assert.match(readlink.message!, /symbolic links/)
      const hard = await s.call(T.EXTENDED, str('hardlink@openssh.com'), str('fid.txt'), str('hard.txt'))
      assert.equal(hard.code, FX.OP_UNSUPPORTED)
      assert.match(hard.message!, /hardlink@openssh\.com is not supported: /)
      const other = await s.call(T.EXTENDED, str('copy-data'), str('x'))
      assert.equal(other.code, FX.OP_UNSUPPORTED)
      assert.match(other.message!, /extension "copy-data" is not supported/)
      assert.equal(existsSync(path.join(t.home, 'link.txt')) || existsSync(path.join(t.home, 'hard.txt')), false)
    } finally {
      s.close()
    }
    const log = node.log
    assert.match(log, /warn .*sftp request failed user=alice .*op=SETSTAT .*reason=/, 'refusals are logged at warn with user and reason')
  })

  it('a protocol error ends the subsystem channel with exit-status 1 (a clean end gives 0)', async () => {
    const s = await connect()
    try {
      s.channel.write(u32(10_000_000)) // a packet length far beyond the limit
      assert.equal(await s.end(), 1)
    } finally {
      s.close()
    }
    const clean = await connect()
    try {
      assert.equal((await clean.call(T.STAT, str('.'))).type, R.ATTRS)
      assert.equal(await clean.end(), 0)
    } finally {
      clean.close()
    }
  })

  it('fidelity: OpenSSH sftp put -p of a 0664 file stores 0664 and its mtime', {skip: needs('sftp')}, async () => {
    const local = path.join(c.root, 'mode.txt')
    writeFileSync(local, 'mode\n', {mode: 0o664})
    const {chmodSync, utimesSync} = await import('node:fs')
    chmodSync(local, 0o664)
    utimesSync(local, 1_200_000_000, 1_200_000_000)
    const r = await c.run('sftp', [...c.sshOptions(t), '-P', String(t.port), '-b', '-', `${t.user}@${t.host}`], {input: `put -p ${local} mode.txt\n`})
    assert.equal(r.code, 0, r.stderr)
    const st = statSync(path.join(t.home, 'mode.txt'))
    assert.equal(st.mode & 0o7777, 0o664)
    assert.equal(Math.floor(st.mtimeMs / 1000), 1_200_000_000)
  })
})
