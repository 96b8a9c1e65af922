import assert from 'node:assert/strict'
import {writeSync} from 'node:fs'
import {readdir, readFile, stat, utimes, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {test} from 'node:test'
import {LocalFileSession} from '../../src/daemon/session/local-session.js'
import {FileError} from '../../src/daemon/session/types.js'
import {makeUser, tempStorage} from './session-helpers.js'

const write = (fd: number, text: string, position: number) => writeSync(fd, Buffer.from(text), 0, Buffer.byteLength(text), position)

test('upload: data goes to a hidden part file and appears under the final name only on commit', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const up = await s.openWrite('/a.txt')
  // Unique per upload (node tag + random), so two writers through two nodes never share a part file.
  assert.match(path.basename(up.tempPath), /^\.a\.txt\.pid\d+-[0-9a-f]{12}\.ftpcluster-part$/)
  assert.deepEqual((await readdir(s.root)).sort(), ['.a.txt.ftpcluster-lock', path.basename(up.tempPath)].sort())
  write(up.fd, 'hello', 0)
  await assert.rejects(stat(path.join(s.root, 'a.txt')))
  assert.deepEqual(await s.list('/'), [])
  await up.commit()
  assert.equal(await readFile(path.join(s.root, 'a.txt'), 'utf8'), 'hello')
  assert.deepEqual(await readdir(s.root), ['a.txt'])
})

test('upload: overwriting keeps the old content visible until commit', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  await writeFile(path.join(s.root, 'a'), 'old')
  const up = await s.openWrite('a')
  write(up.fd, 'new content', 0)
  assert.equal(await readFile(path.join(s.root, 'a'), 'utf8'), 'old')
  await up.commit()
  assert.equal(await readFile(path.join(s.root, 'a'), 'utf8'), 'new content')
})

test('upload: abort without resume removes the part file', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const up = await s.openWrite('a')
  write(up.fd, 'partial', 0)
  await up.abort(false)
  assert.deepEqual(await readdir(s.root), [])
})

test('upload: kept part reports its size under the final name and resumes with offset', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const up = await s.openWrite('big')
  write(up.fd, '0123456789', 0)
  await up.abort(true)
  assert.equal((await s.stat('big')).size, 10)
  assert.deepEqual((await s.list('/')).map((e) => e.name), [])
  const again = await s.openWrite('big', {offset: 6})
  assert.equal(again.startOffset, 6)
  write(again.fd, 'abcd', 6)
  await again.commit()
  assert.equal(await readFile(path.join(s.root, 'big'), 'utf8'), '012345abcd')
})

test('upload: append continues the part (reput) or the final file', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const up = await s.openWrite('f')
  write(up.fd, 'abc', 0)
  await up.abort(true)
  const more = await s.openWrite('f', {append: true})
  assert.equal(more.startOffset, 3)
  write(more.fd, 'def', 3)
  await more.commit()
  const again = await s.openWrite('f', {append: true})
  assert.equal(again.startOffset, 6)
  write(again.fd, 'g', 6)
  assert.equal(await readFile(path.join(s.root, 'f'), 'utf8'), 'abcdef')
  await again.commit()
  assert.equal(await readFile(path.join(s.root, 'f'), 'utf8'), 'abcdefg')
})

test('upload: a part kept while the final exists is dropped (it could not be resumed)', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  await writeFile(path.join(s.root, 'f'), 'final')
  const up = await s.openWrite('f')
  write(up.fd, 'xx', 0)
  await up.abort(true)
  assert.deepEqual(await readdir(s.root), ['f'])
})

test('upload: a second concurrent upload of the same name is busy; after abort it works', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const up = await s.openWrite('f')
  await assert.rejects(s.openWrite('f'), (e: unknown) => e instanceof FileError && e.kind === 'busy')
  await up.abort(false)
  await (await s.openWrite('f')).commit()
})

test('upload: exclusive refuses an existing target; part names are reserved', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  await writeFile(path.join(s.root, 'f'), 'x')
  await assert.rejects(s.openWrite('f', {exclusive: true}), (e: unknown) => e instanceof FileError && e.kind === 'exists')
  await assert.rejects(s.openWrite('.g.ftpcluster-part'), (e: unknown) => e instanceof FileError && e.kind === 'invalid-path')
})

test('remove: a name that only exists as a kept part discards it; rmdir ignores stale parts', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  await s.mkdir('d')
  const up = await s.openWrite('d/f')
  write(up.fd, 'abc', 0)
  await up.abort(true)
  await s.rmdir('d')
  assert.deepEqual(await readdir(s.root), [])
  const up2 = await s.openWrite('g')
  await up2.abort(true)
  await s.remove('g')
  assert.deepEqual(await readdir(s.root), [])
})

test('errors: file errors name the virtual path, never the real one', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  await assert.rejects(s.openRead('/nope'), (e: unknown) => e instanceof FileError && e.kind === 'not-found' && !e.message.includes(s.root))
})

test('upload: a stopped upload rests under the fixed part name, so a resume finds it without listing the directory', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  for (let i = 0; i < 50; i++) await writeFile(path.join(s.root, `other-${i}`), 'x')
  const up = await s.openWrite('big')
  write(up.fd, '0123456789', 0)
  await up.abort(true)
  assert.deepEqual((await readdir(s.root)).filter((n) => n.includes('big')), ['.big.ftpcluster-part'])
  assert.equal((await s.stat('big')).size, 10)
  const again = await s.openWrite('big', {append: true})
  assert.equal(again.startOffset, 10)
  await again.commit()
  assert.equal(await readFile(path.join(s.root, 'big'), 'utf8'), '0123456789')
  assert.deepEqual((await readdir(s.root)).filter((n) => n.includes('big')), ['big'])
})

test('upload: the tagged part of a node that died mid-upload (its lock left behind) is still found and resumed', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const part = path.join(s.root, '.crash.deadnode-0123456789ab.ftpcluster-part')
  await writeFile(part, 'abcdef')
  const lock = path.join(s.root, '.crash.ftpcluster-lock')
  await writeFile(lock, '{"node":"deadnode"}\n')
  const old = new Date(Date.now() - 120_000)
  await utimes(lock, old, old)
  assert.equal((await s.stat('crash')).size, 6, 'a STAT reports the dead upload\'s part')
  const again = await s.openWrite('crash', {append: true})
  assert.equal(again.startOffset, 6)
  write(again.fd, 'gh', 6)
  await again.commit()
  assert.equal(await readFile(path.join(s.root, 'crash'), 'utf8'), 'abcdefgh')
  assert.deepEqual((await readdir(s.root)).filter((n) => n.includes('crash')), ['crash'])
})

test('upload: a new upload claims its name with a hard link to its own part (one inode); nothing is left linked after commit', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const up = await s.openWrite('/n.bin')
  const lock = await stat(path.join(s.root, '.n.bin.ftpcluster-lock'))
  const part = await stat(up.tempPath)
  assert.equal(lock.ino, part.ino, 'the lock is the part under a second name')
  assert.equal(part.nlink, 2)
  write(up.fd, 'data', 0)
  // while it runs, a second upload of the name is refused, naming the node that holds it
  await assert.rejects(s.openWrite('/n.bin'), (e: unknown) => e instanceof FileError && e.kind === 'busy' && /node pid\d+/.test(e.message))
  await up.commit()
  const final = await stat(path.join(s.root, 'n.bin'))
  assert.equal(final.ino, part.ino)
  assert.equal(final.nlink, 1, 'the lock link is gone')
  assert.deepEqual(await readdir(s.root), ['n.bin'])
})

test('upload: a dead node\'s linked lock (lease run out) is taken over; a resume gets a lock file of its own', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const part = path.join(s.root, '.d.deadnode-0123456789ab.ftpcluster-part')
  await writeFile(part, 'abc')
  const {link} = await import('node:fs/promises')
  await link(part, path.join(s.root, '.d.ftpcluster-lock'))
  const old = new Date(Date.now() - 120_000)
  await utimes(part, old, old)
  const up = await s.openWrite('d', {append: true})
  assert.equal(up.startOffset, 3, 'the dead upload\'s part is resumed')
  const lock = await stat(path.join(s.root, '.d.ftpcluster-lock'))
  assert.equal(lock.nlink, 1, 'a resume claims with a lock file')
  assert.match(await readFile(path.join(s.root, '.d.ftpcluster-lock'), 'utf8'), /"node"/)
  write(up.fd, 'de', 3)
  await up.commit()
  assert.equal(await readFile(path.join(s.root, 'd'), 'utf8'), 'abcde')
  assert.deepEqual(await readdir(s.root), ['d'])
})

test('upload: times the client set survive the renewal of the lease on the part', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  const up = await s.openWrite('/t.txt')
  write(up.fd, 'x', 0)
  up.setTimes(1_000_000, 1_000_000)
  // what NameClaim's renewal does every third of a lease, on the same inode
  await utimes(up.tempPath, new Date(), new Date())
  await up.commit()
  assert.equal((await stat(path.join(s.root, 't.txt'))).mtimeMs, 1_000_000_000)
})

test('upload: replacing a large file (renamed in the thread pool) commits the new content and leaves no bookkeeping', async (t) => {
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  await writeFile(path.join(s.root, 'big.bin'), Buffer.alloc(17 * 1024 * 1024, 1))
  const up = await s.openWrite('/big.bin')
  write(up.fd, 'small now', 0)
  up.setTimes(2_000_000, 2_000_000)
  await up.commit()
  assert.equal(await readFile(path.join(s.root, 'big.bin'), 'utf8'), 'small now')
  assert.equal((await stat(path.join(s.root, 'big.bin'))).mtimeMs, 2_000_000_000)
  assert.deepEqual(await readdir(s.root), ['big.bin'])
})

/** The fdatasync/fsync calls this process makes while `fn` runs, seen by strace attached to every thread. */
async function syncCalls(fn: () => Promise<void>): Promise<string[]> {
  const {spawn} = await import('node:child_process')
  const {mkdtemp} = await import('node:fs/promises')
  const {tmpdir} = await import('node:os')
  const out = path.join(await mkdtemp(path.join(tmpdir(), 'strace-')), 'trace')
  const tracer = spawn('strace', ['-f', '-qq', '-e', 'trace=fdatasync,fsync', '-o', out, '-p', String(process.pid)], {stdio: ['ignore', 'ignore', 'pipe']})
  try {
    // strace is attached once it has traced a call made after it started: poll with fsyncs of a known fd
    const probe = path.join(path.dirname(out), 'probe')
    await writeFile(probe, 'x')
    const {open} = await import('node:fs/promises')
    const h = await open(probe, 'r')
    const deadline = Date.now() + 10_000
    for (let i = 0; i < 200 && Date.now() < deadline; i++) {
      await h.sync()
      if ((await readFile(out, 'utf8').catch(() => '')).includes('fsync(')) break
      await new Promise((r) => setTimeout(r, 50))
    }
    const before = (await readFile(out, 'utf8')).split('\n').length
    await h.close()
    await fn()
    await new Promise((r) => setTimeout(r, 200))
    return (await readFile(out, 'utf8')).split('\n').slice(before - 1).filter((l) => /fdatasync\(|fsync\(/.test(l))
  } finally {
    tracer.kill('SIGINT')
    await new Promise((r) => tracer.once('exit', r))
  }
}

test('upload: with syncUploads (the default) the commit fdatasyncs the file and fsyncs its directory; without, neither', {skip: process.getuid?.() !== 0 && 'strace -p needs root'}, async (t) => {
  const {configureUploads} = await import('../../src/daemon/session/upload.js')
  const s = await LocalFileSession.open(await tempStorage(t), makeUser())
  t.after(() => configureUploads({sync: true}))
  const on = await syncCalls(async () => {
    const up = await s.openWrite('/durable.txt')
    write(up.fd, 'kept through a power cut', 0)
    await up.commit()
  })
  assert.equal(on.filter((l) => l.includes('fdatasync(')).length, 1, on.join('\n'))
  assert.equal(on.filter((l) => /\bfsync\(/.test(l)).length, 1, on.join('\n'))
  configureUploads({sync: false})
  const off = await syncCalls(async () => {
    const up = await s.openWrite('/fast.txt')
    write(up.fd, 'page cache only', 0)
    await up.commit()
  })
  assert.deepEqual(off, [])
  assert.equal(await readFile(path.join(s.root, 'fast.txt'), 'utf8'), 'page cache only')
})
