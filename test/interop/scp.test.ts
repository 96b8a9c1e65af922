// scp, both protocols (default SFTP mode and legacy -O), 50 MB down and up, against our node and against
// OpenSSH's sshd; plus what OpenSSH's ssh sees of the subsystem and exec channels (exit statuses, hash
// commands, the refusal line). Addresses: 127.0.40.2 (node), 127.0.40.3 (sshd).
import assert from 'node:assert/strict'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {clients, noOpenSsh, randomFile, sha256, startNode, startOpenSsh, type Clients, type Target} from '../helpers/interop.js'
import type {TestNode} from '../helpers/node-process.js'
import {hasTool, needs} from '../helpers/tools.js'

const NODE = '127.0.40.2'
const SSHD = '127.0.40.3'
const SIZE = 50 * 1024 * 1024
const skip = needs('scp', 'ssh', 'ssh-keygen')

describe('scp and ssh against a node (and OpenSSH)', {skip}, () => {
  let c: Clients
  let node: TestNode
  const targets: Target[] = []
  let stopSshd = () => {}
  let big = ''

  before(async () => {
    c = clients()
    const n = await startNode(c.root, NODE, c.key + '.pub')
    node = n.node
    targets.push(n.target)
    if (!noOpenSsh()) {
      const o = await startOpenSsh(c.root, SSHD, c.key + '.pub')
      stopSshd = o.stop
      targets.push(o.target)
    } else process.stderr.write(`NOTICE scp comparison with OpenSSH ${noOpenSsh()}\n`)
    big = randomFile(path.join(c.root, 'big.bin'), SIZE, 7)
  })
  after(async () => {
    await c?.cleanup()
    stopSshd()
    await node?.stop()
  })

  const scp = (t: Target, args: string[]) => c.run('scp', [...c.sshOptions(t), '-P', String(t.port), ...args], {timeoutMs: 120_000})
  const ssh = (t: Target, args: string[], input?: string) => c.run('ssh', [...c.sshOptions(t), '-p', String(t.port), `${t.user}@${t.host}`, ...args], {input})

  for (const mode of ['default', '-O'] as const) {
    it(`scp ${mode}: 50 MB up and down, exit 0, identical (ours and OpenSSH)`, async () => {
      const extra = mode === '-O' ? ['-O'] : []
      for (const t of targets) {
        const name = `up${mode}.bin`
        const up = await scp(t, [...extra, big, `${t.user}@${t.host}:${t.remote(name)}`])
        assert.equal(up.code, 0, `${t.name} upload: ${up.stderr}`)
        assert.equal(sha256(path.join(t.home, name)), sha256(big), `${t.name} upload identical`)
        const back = path.join(c.root, `down-${t.name}${mode}.bin`)
        const down = await scp(t, [...extra, `${t.user}@${t.host}:${t.remote(name)}`, back])
        assert.equal(down.code, 0, `${t.name} download: ${down.stderr}`)
        assert.equal(sha256(back), sha256(big), `${t.name} download identical`)
      }
    })
  }

  it('scp -O -r -p: a tree with modes and times goes up and comes back the same', async () => {
    const t = targets[0]
    const src = path.join(c.root, 'tree')
    const {mkdirSync, chmodSync, utimesSync, statSync, readFileSync} = await import('node:fs')
    mkdirSync(path.join(src, 'sub', 'deeper'), {recursive: true})
    randomFile(path.join(src, 'a.bin'), 300_000, 1)
    randomFile(path.join(src, 'sub', 'b.txt'), 10, 2)
    randomFile(path.join(src, 'sub', 'deeper', 'c.bin'), 0, 3)
    chmodSync(path.join(src, 'sub', 'b.txt'), 0o664)
    utimesSync(path.join(src, 'a.bin'), 1_000_000_000, 1_000_000_000)
    const up = await scp(t, ['-O', '-r', '-p', src, `${t.user}@${t.host}:copy`])
    assert.equal(up.code, 0, up.stderr)
    assert.equal(statSync(path.join(t.home, 'copy', 'sub', 'b.txt')).mode & 0o777, 0o664, 'mode kept with -p')
    assert.equal(Math.floor(statSync(path.join(t.home, 'copy', 'a.bin')).mtimeMs / 1000), 1_000_000_000, 'mtime kept with -p')
    const back = path.join(c.root, 'back')
    const down = await scp(t, ['-O', '-r', '-p', `${t.user}@${t.host}:copy`, back])
    assert.equal(down.code, 0, down.stderr)
    for (const f of ['a.bin', 'sub/b.txt', 'sub/deeper/c.bin']) assert.deepEqual(readFileSync(path.join(back, f)), readFileSync(path.join(src, f)), f)
    assert.equal(statSync(path.join(back, 'sub', 'b.txt')).mode & 0o777, 0o664)
  })

  it('scp -O of two files to a directory (-d), and to a name that is not a directory, as OpenSSH does', async () => {
    const {writeFileSync, mkdirSync, readFileSync} = await import('node:fs')
    const one = path.join(c.root, 'one.txt')
    const two = path.join(c.root, 'two.txt')
    writeFileSync(one, 'one\n')
    writeFileSync(two, 'two\n')
    for (const t of targets) {
      mkdirSync(path.join(t.home, 'into'), {recursive: true})
      const r = await scp(t, ['-O', one, two, `${t.user}@${t.host}:${t.remote('into')}`])
      assert.equal(r.code, 0, `${t.name}: ${r.stderr}`)
      assert.equal(readFileSync(path.join(t.home, 'into', 'two.txt'), 'utf8'), 'two\n', t.name)
      const bad = await scp(t, ['-O', one, two, `${t.user}@${t.host}:${t.remote('into/one.txt')}`])
      assert.equal(bad.code, 1, `${t.name}: ${bad.stderr}`)
      assert.match(bad.stderr, /Not a directory/, t.name)
    }
  })

  it('scp -O to a missing directory and from a missing file fails with the reason, like OpenSSH', async () => {
    for (const t of targets) {
      const r = await scp(t, ['-O', `${t.user}@${t.host}:${t.remote('nope.bin')}`, path.join(c.root, 'x')])
      assert.equal(r.code, 1, `${t.name}: ${r.stderr}`)
      assert.match(r.stderr, /nope\.bin: No such file or directory/, t.name)
      const up = await scp(t, ['-O', big, `${t.user}@${t.host}:${t.remote('no/such/dir/x.bin')}`])
      assert.equal(up.code, 1, `${t.name}: ${up.stderr}`)
      assert.match(up.stderr, /No such file or directory/, t.name)
    }
  })

  it('ssh -s sftp exits 0 after a clean session, like OpenSSH', async () => {
    for (const t of targets) {
      const r = await c.run('sftp', [...c.sshOptions(t), '-P', String(t.port), '-b', '-', `${t.user}@${t.host}`], {input: 'pwd\n'})
      assert.equal(r.code, 0, `${t.name} sftp: ${r.stderr}`)
      // A raw subsystem stream closed by the client: ssh reports the server's exit status.
      const raw = await c.run('ssh', [...c.sshOptions(t), '-p', String(t.port), '-s', `${t.user}@${t.host}`, 'sftp'], {input: Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3])})
      assert.equal(raw.code, 0, `${t.name} ssh -s sftp: ${raw.stderr}`)
    }
  })

  it('md5sum, sha1sum and sha256sum print what coreutils prints, for files and for stdin', async () => {
    for (const t of targets) {
      for (const cmd of ['md5sum', 'sha1sum', 'sha256sum']) {
        const r = await ssh(t, [cmd, t.remote('up-O.bin')])
        assert.equal(r.code, 0, `${t.name} ${cmd}: ${r.stderr}`)
        const local = await c.run(cmd, [big])
        assert.equal(r.stdout.split(' ')[0], local.stdout.split(' ')[0], `${t.name} ${cmd}`)
        assert.equal(r.stdout, `${local.stdout.split(' ')[0]}  ${t.remote('up-O.bin')}\n`)
      }
      const empty = await ssh(t, ['md5sum'])
      assert.equal(empty.stdout, 'd41d8cd98f00b204e9800998ecf8427e  -\n', `${t.name} md5sum of empty stdin (what rclone probes)`)
      const missing = await ssh(t, ['md5sum', t.remote('missing.bin')])
      assert.equal(missing.code, 1, t.name)
      assert.match(missing.stderr, /md5sum: .*missing\.bin: No such file or directory/, t.name)
    }
    // rclone escapes paths with backslashes for a POSIX shell.
    const {writeFileSync} = await import('node:fs')
    writeFileSync(path.join(targets[0].home, 'a b&c.txt'), 'x')
    const r = await ssh(targets[0], ['md5sum', '/a\\ b\\&c.txt'])
    assert.equal(r.stdout, '9dd4e461268c8034f5c8564e155c67a6  /a b&c.txt\n', r.stderr)
  })

  it('any other command (rsync, a shell) gets one clear line and exit status 1', async () => {
    const t = targets[0]
    const rsync = await ssh(t, ['rsync', '--server', '-vlogDtpre.iLsfxC', '.', 'x'])
    assert.equal(rsync.code, 1)
    assert.equal(rsync.stderr, 'this server offers SFTP, scp and md5sum/sha1sum/sha256sum; rsync is not available\n')
    const ls = await ssh(t, ['ls -la; cat /etc/passwd'])
    assert.equal(ls.code, 1)
    assert.equal(ls.stderr, 'this server offers SFTP, scp and md5sum/sha1sum/sha256sum; ls is not available\n')
    const shell = await c.run('ssh', [...c.sshOptions(t), '-T', '-p', String(t.port), `${t.user}@${t.host}`])
    assert.equal(shell.code, 1)
    assert.match(shell.stderr, /this server offers SFTP, scp and md5sum\/sha1sum\/sha256sum; an interactive shell is not available/)
    // The rsync client itself, where installed, shows our line too.
    const rsyncClient = !hasTool('rsync') ? null : await c.run('rsync', ['-e', `ssh ${c.sshOptions(t).join(' ')} -p ${t.port}`, big, `${t.user}@${t.host}:r.bin`])
    if (rsyncClient) {
      assert.notEqual(rsyncClient.code, 0)
      assert.match(rsyncClient.stderr, /rsync is not available/)
    }
  })
})
