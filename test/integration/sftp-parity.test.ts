// Reliability item 19: the same OpenSSH `sftp -b` commands against OpenSSH's own sftp-server and against our
// SFTP service give the same outcome command by command (success or failure) and identical trees.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {collect, missingTools, startFixture} from '../helpers/sftp-fixture.js'
import {fileTree} from '../helpers/tree.js'

const SFTP_SERVER = '/usr/lib/openssh/sftp-server'


test('sftp parity with OpenSSH sftp-server: same outcome per command, identical trees', {skip: missingTools('sftp', 'ssh-keygen') ?? (existsSync(SFTP_SERVER) ? undefined : `skipped: ${SFTP_SERVER} not installed (apt-get install openssh-sftp-server)`)}, async (t) => {
  const f = await startFixture(t)
  const local = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-parity-'))
  t.after(() => rmSync(local, {recursive: true, force: true}))
  const theirs = path.join(local, 'openssh-root')
  mkdirSync(theirs)
  writeFileSync(path.join(local, 'small.txt'), 'hello\n')
  writeFileSync(path.join(local, 'big.bin'), randomBytes(3 * 1024 * 1024 + 5))
  const L = (n: string) => path.join(local, n)
  const commands = [
    'mkdir a',
    'mkdir a/b',
    `put ${L('small.txt')} a/small.txt`,
    `put ${L('big.bin')} a/b/big.bin`,
    'mkdir a',
    'rm does-not-exist',
    'rmdir a',
    'rename a/small.txt a/renamed.txt',
    'rename a/nope.txt a/x.txt',
    'chmod 600 a/renamed.txt',
    'ls -l a',
    'cd nowhere',
    `get a/b/big.bin ${L('back-ours.bin')}`,
    'get missing.txt /dev/null',
    'mkdir c',
    'rmdir c',
    `put ${L('small.txt')} a/b/big.bin`,
    'rm a/b/big.bin',
    'ln -s a/renamed.txt link',
    'df .',
  ]
  const outcomes: {command: string; ours: number | null; theirs: number | null}[] = []
  for (const command of commands) {
    const ours = await f.sftp(command + '\n')
    const child = spawn('sftp', ['-b', '-', '-D', SFTP_SERVER], {cwd: theirs, stdio: ['pipe', 'pipe', 'pipe'], detached: true})
    child.stdin.end(command.replace('back-ours', 'back-theirs') + '\n')
    const reference = await collect(child, 30_000)
    outcomes.push({command, ours: ours.code, theirs: reference.code})
  }
  if (process.env.PARITY_DEBUG) console.error(JSON.stringify(outcomes))
  const differing = outcomes.filter((o) => (o.ours === 0) !== (o.theirs === 0))
  // Symlink creation is refused on purpose: a client-made link is a way out of the jail.
  assert.deepEqual(differing.map((o) => o.command), ['ln -s a/renamed.txt link'], JSON.stringify(outcomes, null, 1))
  const theirTree = fileTree(theirs, {modes: true})
  delete theirTree.link
  assert.deepEqual(fileTree(f.home, {modes: true}), theirTree)
  assert.deepEqual(readFileSync(L('back-ours.bin')), readFileSync(L('big.bin')))
})
