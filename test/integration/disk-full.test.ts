// Disk full (reliability item 8): a node whose data directory and storage sit on a small tmpfs. A
// configuration write fails cleanly and the old configuration stays in effect and intact; an FTP upload is
// refused with no truncated final file; the daemon stays up. Needs root (mount). Addresses: 127.0.9.0/24.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeSync, closeSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import ssh2 from 'ssh2'
import {hashPassword} from '../../src/config/password.js'
import {ConfigStore, readConfigFile} from '../../src/config/store.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS, type NodeStatus} from '../../src/protocol/index.js'
import {ADMIN_PASSWORD, createNode, pollUntil, sshKey, tempDir, type TestNode} from '../helpers/node-process.js'
import {needs} from '../helpers/tools.js'
import {startStripeCluster, type StripeCluster} from '../helpers/stripe-cluster.js'

const A = '127.0.9.2'

function mountTmpfs(dir: string): string | false {
  if (process.getuid?.() !== 0) return 'skipped: mounting a tmpfs needs root'
  mkdirSync(dir, {recursive: true})
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir])
  if (r.status !== 0) return `skipped: cannot mount a tmpfs here (${r.stderr.toString().trim()})`
  return false
}

/** Fills the filesystem holding `dir` to the last byte. */
function fill(dir: string): string {
  const file = path.join(dir, 'filler')
  const fd = openSync(file, 'w')
  const chunk = Buffer.alloc(64 * 1024)
  try {
    for (let i = 0; i < 10_000; i++) writeSync(fd, chunk)
  } catch {
    for (let size = 4096; size >= 1; size = Math.floor(size / 2)) {
      try {
        for (let i = 0; i < 64; i++) writeSync(fd, chunk.subarray(0, size))
      } catch {}
    }
  } finally {
    closeSync(fd)
  }
  return file
}

/** A node with its data and storage on `mnt`, and user alice (password alice-password). */
async function startWithAlice(mnt: string, ip: string, publicKeys: string[] = []): Promise<TestNode> {
  const node = await createNode(mnt, ip, ['--storage', path.join(mnt, 'files')])
  await node.start()
  const c = await AdminClient.connect({host: ip, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
  const config = await c.readJson<ClusterConfig>(PATHS.config)
  config.users.push({name: 'alice', passwordHash: await hashPassword('alice-password'), publicKeys, home: '/alice', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
  await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
  c.close()
  return node
}

describe('disk full', () => {
  const root = tempDir()
  const mnt = path.join(root, 'small')
  const skip = mountTmpfs(mnt)
  if (skip) process.stderr.write(`NOTICE disk-full tests ${skip}\n`)
  let node: TestNode
  let filler = ''

  before(async () => {
    if (!skip) node = await startWithAlice(mnt, A)
  })
  after(async () => {
    if (skip) return
    await node?.stop()
    spawnSync('umount', ['-l', mnt])
  })

  it('a configuration write on a full disk fails cleanly; the old configuration stays in effect and intact', {skip}, async () => {
    const c = await AdminClient.connect({host: A, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
    try {
      const before = await c.exec<NodeStatus>('status', null)
      filler = fill(mnt)
      const config = await c.readJson<ClusterConfig>(PATHS.config)
      config.sync.intervalSeconds = 77
      await assert.rejects(c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision})), (e: Error & {code?: string}) => e.code === 'io' && /ENOSPC/.test(e.message) && new RegExp(`revision ${before.revision} is still in effect`).test(e.message))
      const now = await c.exec<NodeStatus>('status', null)
      assert.equal(now.revision, before.revision)
      assert.equal(now.hash, before.hash)
      const onDisk = await readConfigFile(path.join(node.dir, 'config', 'current.json'))
      assert.equal(onDisk.revision, before.revision)
      assert.deepEqual(readdirSync(path.join(node.dir, 'config')).filter((n) => n.includes('.tmp-')), [], 'no temp file left behind')
    } finally {
      c.close()
    }
  })

  it('an FTP upload on a full disk is refused and leaves no truncated final file; the daemon stays up', {skip: skip || needs('curl')}, async () => {
    const src = path.join(root, 'upload.bin')
    writeFileSync(src, Buffer.alloc(512 * 1024, 7))
    const r = spawnSync('curl', ['-sS', '-T', src, '-u', 'alice:alice-password', `ftp://${A}:2121/big.bin`], {encoding: 'utf8', timeout: 30_000})
    assert.notEqual(r.status, 0, 'the upload failed')
    assert.match(r.stderr, /45[12]|55[12]|Failed|failed/, r.stderr)
    assert.equal(existsSync(path.join(mnt, 'files', 'alice', 'big.bin')), false, 'no final file')
    const c = await AdminClient.connect({host: A, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
    assert.equal((await c.exec<NodeStatus>('status', null)).services.ftp, 'up')
    // With space again, writes work.
    rmSync(filler)
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision, sync: {enabled: true, intervalSeconds: 78}}))
    assert.equal((await c.exec<NodeStatus>('status', null)).revision, config.revision + 1)
    c.close()
    const again = spawnSync('curl', ['-sS', '--fail', '-T', src, '-u', 'alice:alice-password', `ftp://${A}:2121/big.bin`], {encoding: 'utf8', timeout: 30_000})
    assert.equal(again.status, 0, again.stderr)
  })
})

/** Uploads `data` in one SFTP WRITE (ssh2's client, password login), then closes: the first error, or null. */
function sftpUpload(host: string, name: string, data: Buffer): Promise<Error | null> {
  return new Promise((resolve) => {
    const client = new ssh2.Client()
    const done = (e: Error | null) => {
      client.end()
      resolve(e)
    }
    client.on('error', (e) => done(e))
    client.on('ready', () => client.sftp((err, sftp) => {
      if (err) return done(err)
      sftp.open(name, 'w', (err, handle) => {
        if (err) return done(err)
        sftp.write(handle, data, 0, data.length, 0, (writeError) => {
          sftp.close(handle, (closeError) => done(writeError ?? closeError ?? null))
        })
      })
    }))
    client.connect({host, port: 2222, username: 'alice', password: 'alice-password', hostVerifier: () => true, readyTimeout: 10_000})
  })
}

describe('disk full in the middle of an upload\'s last write', () => {
  // The file system takes part of a write (what still fits) and says so only by the count; the rest of the
  // write then gets ENOSPC. An upload whose last write is cut short must fail, not commit the part that fit.
  const C = '127.0.9.4'
  const root = tempDir()
  const mnt = path.join(root, 'small')
  const skip = mountTmpfs(mnt)
  const key = sshKey(root)
  let node: TestNode
  let filler = ''
  /** Fills the disk, then frees between one and two pages: less than the 24 KiB uploaded. */
  const almostFull = () => {
    filler = fill(mnt)
    truncateSync(filler, statSync(filler).size - 8192)
  }

  before(async () => {
    if (!skip) node = await startWithAlice(mnt, C, [readFileSync(key.publicKey, 'utf8').trim()])
  })
  after(async () => {
    if (skip) return
    await node?.stop()
    spawnSync('umount', ['-l', mnt])
  })

  it('SFTP: the WRITE that only partly fits fails and no final file is committed', {skip}, async () => {
    almostFull()
    try {
      const error = await sftpUpload(C, 'short.bin', Buffer.alloc(24 * 1024, 5))
      const final = path.join(mnt, 'files', 'alice', 'short.bin')
      assert.ok(error, `the upload reported a failure (final file: ${existsSync(final) ? `${statSync(final).size} of 24576 bytes` : 'none'})`)
      assert.equal(existsSync(path.join(mnt, 'files', 'alice', 'short.bin')), false, 'no final file')
    } finally {
      rmSync(filler)
    }
    assert.equal(await sftpUpload(C, 'short.bin', Buffer.alloc(24 * 1024, 5)), null, 'with space again, it works')
    assert.equal(statSync(path.join(mnt, 'files', 'alice', 'short.bin')).size, 24 * 1024)
    // Replacing that file on a disk that fills up fails too, and the file keeps what it had.
    almostFull()
    try {
      assert.ok(await sftpUpload(C, 'short.bin', Buffer.alloc(32 * 1024, 9)), 'the replacing upload reported a failure')
    } finally {
      rmSync(filler)
    }
    assert.deepEqual(readFileSync(path.join(mnt, 'files', 'alice', 'short.bin')), Buffer.alloc(24 * 1024, 5), 'the old contents, whole')
  })

  it('FTP: the write that only partly fits fails the STOR and no final file is committed', {skip: skip || needs('curl')}, async () => {
    const src = path.join(root, 'short.bin')
    writeFileSync(src, Buffer.alloc(24 * 1024, 6))
    almostFull()
    try {
      const r = spawnSync('curl', ['-sS', '-T', src, '-u', 'alice:alice-password', `ftp://${C}:2121/short-ftp.bin`], {encoding: 'utf8', timeout: 30_000})
      const final = path.join(mnt, 'files', 'alice', 'short-ftp.bin')
      assert.notEqual(r.status, 0, `the upload failed (final file: ${existsSync(final) ? `${statSync(final).size} of 24576 bytes` : 'none'})`)
      assert.match(r.stderr, /45[12]|55[12]|Failed|failed/, r.stderr)
      assert.equal(existsSync(final), false, 'no final file')
    } finally {
      rmSync(filler)
    }
    // Replacing a file on a disk that fills up fails too, and the file keeps what it had.
    const first = spawnSync('curl', ['-sS', '--fail', '-T', src, '-u', 'alice:alice-password', `ftp://${C}:2121/short-ftp.bin`], {encoding: 'utf8', timeout: 30_000})
    assert.equal(first.status, 0, first.stderr)
    const bigger = path.join(root, 'bigger.bin')
    writeFileSync(bigger, Buffer.alloc(32 * 1024, 3))
    almostFull()
    try {
      const r = spawnSync('curl', ['-sS', '-T', bigger, '-u', 'alice:alice-password', `ftp://${C}:2121/short-ftp.bin`], {encoding: 'utf8', timeout: 30_000})
      assert.notEqual(r.status, 0, 'the replacing upload failed')
    } finally {
      rmSync(filler)
    }
    assert.deepEqual(readFileSync(path.join(mnt, 'files', 'alice', 'short-ftp.bin')), readFileSync(src), 'the old contents, whole')
  })

  it('legacy scp (-O): the write that only partly fits fails the copy and no final file is committed', {skip: skip || needs('scp')}, async () => {
    const src = path.join(root, 'short-scp.bin')
    writeFileSync(src, Buffer.alloc(24 * 1024, 2))
    const opts = ['-O', '-i', key.privateKey, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-P', '2222']
    const final = path.join(mnt, 'files', 'alice', 'short-scp.bin')
    almostFull()
    try {
      const r = spawnSync('scp', [...opts, src, `alice@${C}:short-scp.bin`], {encoding: 'utf8', timeout: 30_000})
      assert.notEqual(r.status, 0, `scp failed (final file: ${existsSync(final) ? `${statSync(final).size} of 24576 bytes` : 'none'})`)
      assert.match(r.stderr, /no space/i, r.stderr)
      assert.equal(existsSync(final), false, 'no final file')
    } finally {
      rmSync(filler)
    }
    const again = spawnSync('scp', [...opts, src, `alice@${C}:short-scp.bin`], {encoding: 'utf8', timeout: 30_000})
    assert.equal(again.status, 0, again.stderr)
    assert.deepEqual(readFileSync(final), readFileSync(src))
  })
  it('WebDAV: the PUT that only partly fits is answered 507 and no final file is committed', {skip: skip || needs('curl')}, async () => {
    const src = path.join(root, 'short-web.bin')
    writeFileSync(src, Buffer.alloc(24 * 1024, 8))
    const final = path.join(mnt, 'files', 'alice', 'short-web.bin')
    const put = () => spawnSync('curl', ['-sS', '-k', '-u', 'alice:alice-password', '-T', src, '-o', '/dev/null', '-w', '%{http_code}', `https://${C}:8443/dav/short-web.bin`], {encoding: 'utf8', timeout: 30_000})
    almostFull()
    try {
      const r = put()
      assert.equal(r.stdout, '507', `answered ${r.stdout} ${r.stderr} (final file: ${existsSync(final) ? `${statSync(final).size} of 24576 bytes` : 'none'})`)
      assert.equal(existsSync(final), false, 'no final file')
      await pollUntil(async () => /warn +\[web\] webdav request failed user=alice method=PUT url=\/dav\/short-web.bin status=507 reason=".*no space left/.test(node.log), 'the node logs the failure', 10_000, 50)
    } finally {
      rmSync(filler)
    }
    assert.equal(put().stdout, '201', 'with space again, it works')
    assert.equal(statSync(final).size, 24 * 1024)
  })
})

describe('disk full, journaled configuration', () => {
  // Every document journaled, as a large directory is: a change is one appended line.
  const B = '127.0.9.3'
  const root = tempDir()
  const mnt = path.join(root, 'small')
  const skip = mountTmpfs(mnt)
  let node: TestNode
  const hash = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + 'A'.repeat(43) + '='
  // A key line of 16 KB: its journal line needs new pages, so a full tmpfs refuses it (a short line would fit in
  // the journal's last, partly used page).
  const bigKey = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnly+for+the+test ${'k'.repeat(16 * 1024)}`
  const add = (c: AdminClient, name: string) => c.exec<{revision: number}>('users-edit', {action: 'add', name, passwordHash: hash, publicKeys: name === 'third' ? [bigKey] : []})
  after(async () => {
    if (skip) return
    await node?.stop()
    delete process.env.CLUSTER_CONFIG_JOURNAL_MIN_BYTES
    spawnSync('umount', ['-l', mnt])
  })

  it('a journal append on a full disk fails cleanly, leaves nothing of the change, and the node restarts at the last acknowledged revision', {skip}, async () => {
    process.env.CLUSTER_CONFIG_JOURNAL_MIN_BYTES = '0'
    node = await createNode(mnt, B, ['--storage', path.join(mnt, 'files')])
    await node.start()
    let c = await AdminClient.connect({host: B, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
    await add(c, 'first')
    const acknowledged = (await add(c, 'second')).revision // journaled
    const filler = fill(mnt)
    await assert.rejects(add(c, 'third'), (e: Error & {code?: string}) => e.code === 'io' && /ENOSPC/.test(e.message) && new RegExp(`revision ${acknowledged} is still in effect`).test(e.message))
    assert.equal((await c.exec<NodeStatus>('status', null)).revision, acknowledged)
    const onDisk = await ConfigStore.readOnDisk(node.dir)
    assert.equal(onDisk.revision, acknowledged, 'the refused change is not on disk')
    assert.deepEqual(onDisk.users.map((u) => u.name), ['first', 'second'])
    c.close()
    rmSync(filler)
    await node.stop()
    await node.start()
    c = await AdminClient.connect({host: B, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
    try {
      assert.equal((await c.exec<NodeStatus>('status', null)).revision, acknowledged, 'restarted at the last acknowledged revision')
      assert.equal((await add(c, 'third')).revision, acknowledged + 1, 'with space again, changes work')
    } finally {
      c.close()
    }
  })
})

describe('disk full on a striped cluster\'s storage node', () => {
  // One storage node whose data directory (and so its pieces) sits on a small tmpfs, behind a gateway.
  const G = '127.0.9.5'
  const N = '127.0.9.6'
  const root = tempDir()
  const mnt = path.join(root, `node-${N}`)
  const skip = mountTmpfs(mnt)
  let cluster: StripeCluster | undefined
  let filler = ''

  before(async () => {
    if (!skip) cluster = await startStripeCluster(root, G, [N])
  })
  after(async () => {
    if (skip) return
    await cluster?.stop()
    spawnSync('umount', ['-l', mnt])
  })

  it('an upload the node cannot store is answered 452 by the gateway, and nothing of it is listed or served', {skip: skip || needs('curl')}, async () => {
    const src = path.join(root, 'striped.bin')
    writeFileSync(src, Buffer.alloc(24 * 1024, 4))
    const curl = (args: string[]) => spawnSync('curl', ['-sS', ...args], {encoding: 'utf8', timeout: 30_000})
    filler = fill(mnt)
    truncateSync(filler, statSync(filler).size - 8192)
    try {
      // passive (relayed by the gateway) and active (the node connects to the client)
      for (const mode of [[], ['--interface', '127.0.9.30', '-P', '127.0.9.30']]) {
        const r = curl(['-v', ...mode, '-T', src, cluster!.url('/striped.bin')])
        assert.notEqual(r.status, 0, 'the upload failed')
        assert.match(r.stderr, /^< 452 Insufficient storage space/m, `the client is told why (${mode.length ? 'active' : 'passive'})`)
      }
      const list = curl(['-l', cluster!.url('/')])
      assert.equal(list.status, 0, list.stderr)
      assert.doesNotMatch(list.stdout, /striped\.bin/, 'the gateway does not list it')
    } finally {
      rmSync(filler)
    }
    const again = curl(['--fail', '-T', src, cluster!.url('/striped.bin')])
    assert.equal(again.status, 0, `with space again, it works: ${again.stderr}`)
    const got = spawnSync('curl', ['-sS', '--fail', cluster!.url('/striped.bin')], {timeout: 30_000})
    assert.equal(got.status, 0)
    assert.deepEqual(got.stdout, readFileSync(src))
  })
})
