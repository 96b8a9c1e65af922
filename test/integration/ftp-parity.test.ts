// Reliability item 19, FTP half: the same lftp commands against vsftpd and against our FtpService give the
// same outcome command by command (success or failure, and for a failure the class of the server's last
// error reply), identical remote trees (names, sizes, sha256; mode bits ignored) and identical downloads.
// vsftpd runs standalone as root with anonymous write access below <root>/pub (its own rule: the anonymous
// root itself must not be writable), so every lftp command works relative to /pub there and to / for us.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {PASSWORD, USER, killAll, run, startFtp} from '../helpers/ftp-fixture.js'
import {needs} from '../helpers/tools.js'
import {fileTree} from '../helpers/tree.js'
import {needsVsftpd, startVsftpd} from '../helpers/vsftpd.js'

const OURS = {bind: '127.0.31.1', ftp: 20311, ftps: 20312, pasvMin: 20330, pasvMax: 20339}
const THEIRS = {bind: '127.0.31.2', port: 20321, pasvMin: 20340, pasvMax: 20349}

interface Outcome {
  command: string
  ours: string
  theirs: string
  /** the exact last error replies, for the table only: the codes within a class may differ (550 vs 553) */
  detail: Record<'ours' | 'theirs', string>
}

function lastError(stderr: string): string {
  const replies = [...stderr.matchAll(/^<--- ([45]\d\d[ -][^\n]*)/gm)]
  return replies.length ? replies[replies.length - 1][1].trim() : ''
}

/** "ok", or "fail:<class of the last 4xx/5xx reply>" ("fail:-" when the failure came without one). */
function outcome(r: {code: number | null; stderr: string}): string {
  if (r.code === 0) return 'ok'
  const replies = [...r.stderr.matchAll(/^<--- ([45])\d\d[ -]/gm)]
  return `fail:${replies.length ? replies[replies.length - 1][1] + 'xx' : '-'}`
}

test('ftp parity with vsftpd: same outcome per lftp command, identical trees and downloads', {skip: needs('lftp') || needsVsftpd()}, async (t) => {
  t.after(() => killAll())
  const work = mkdtempSync(path.join(os.tmpdir(), 'ftpcluster-ftp-parity-'))
  t.after(() => rmSync(work, {recursive: true, force: true}))

  // --- vsftpd: anonymous with uploads, mkdir, delete/rename, in a temp root owned by root ---
  const vs = await startVsftpd({work, bind: THEIRS.bind, port: THEIRS.port, pasvMin: THEIRS.pasvMin, pasvMax: THEIRS.pasvMax})
  t.after(() => vs.stop())
  const pub = vs.pub

  // --- ours ---
  const f = await startFtp({bind: OURS.bind, ftpPort: OURS.ftp, ftpsPort: OURS.ftps, pasvMin: OURS.pasvMin, pasvMax: OURS.pasvMax, mutate: (c) => {
    c.sites.files.ftps.enabled = false
    // The counterpart of vsftpd's anonymous user, who may not SITE CHMOD: our user without the chmod right.
    c.users[0].permissions = c.users[0].permissions.filter((p) => p !== 'chmod')
  }})
  t.after(() => f.stop())

  // --- local material: a small file, a 2.5 MB random file, a nested tree of 8 files ---
  const L = (n: string) => path.join(work, n)
  writeFileSync(L('small.txt'), 'hello, parity\n')
  writeFileSync(L('big.bin'), randomBytes(2.5 * 1024 * 1024 + 7))
  for (let i = 0; i < 8; i++) {
    const dir = path.join(L('src'), `d${i % 3}`, i % 2 ? 'x' : '')
    mkdirSync(dir, {recursive: true})
    writeFileSync(path.join(dir, `f${i}.bin`), randomBytes(i * 4099))
  }
  mkdirSync(L('src/emptydir'))
  for (const who of ['ours', 'theirs']) mkdirSync(L(`down-${who}`))

  // {D} is the per-server local download directory
  const commands = [
    'mkdir a',
    'mkdir a/b',
    'mkdir -p deep/er/est',
    `put ${L('small.txt')} -o a/small.txt`,
    `put ${L('big.bin')} -o big.bin`,
    `put ${L('big.bin')} -o a/b/big.bin`,
    'mkdir a',
    'rm does-not-exist',
    'rmdir a',
    'mv a/small.txt a/renamed.txt',
    'mv a/nope.txt a/x.txt',
    'get a/b/big.bin -o {D}/back.bin',
    'get missing.txt -o {D}/missing.txt',
    'cls -1 a/',
    'ls a',
    'cd nowhere',
    `put ${L('small.txt')} -o big.bin`,
    'get big.bin -o {D}/overwritten.txt',
    'rm a/b/big.bin',
    'mkdir c',
    'rmdir c',
    'rmdir deep/er/est',
    `mirror -R ${L('src')} tree`,
    'mirror tree {D}/tree',
    `put ${L('small.txt')} -o nodir/x.txt`,
    'mkdir a/b/c/d',
    'rm a',
    'get a -o {D}/a-as-file',
    `put ${L('small.txt')} -o a/over.txt`,
    'mv a/over.txt a/renamed.txt',
    'quote SIZE a/renamed.txt',
    'chmod 600 a/renamed.txt',
    'rm -r deep',
  ]
  const settings = 'set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 5; set net:reconnect-interval-base 1; set cmd:fail-exit yes; set xfer:clobber on'
  const targets = {
    ours: `open -u ${USER},${PASSWORD} ftp://${OURS.bind}:${OURS.ftp}/`,
    theirs: `open -u anonymous,parity ftp://${THEIRS.bind}:${THEIRS.port}/pub`,
  }
  const outcomes: Outcome[] = []
  const listings: Record<'ours' | 'theirs', string> = {ours: '', theirs: ''}
  for (const command of commands) {
    const o: Outcome = {command, ours: '', theirs: '', detail: {ours: '', theirs: ''}}
    for (const who of ['ours', 'theirs'] as const) {
      const r = await run('lftp', ['-d', '-c', `${settings}; ${targets[who]}; ${command.replaceAll('{D}', L(`down-${who}`))}`], 20_000)
      o[who] = outcome(r)
      if (r.code !== 0) o.detail[who] = lastError(r.stderr)
      if (command.startsWith('cls')) listings[who] = r.stdout.split('\n').filter(Boolean).sort().join(',')
      if (process.env.PARITY_DEBUG) console.error(`--- ${who}: ${command} → ${o[who]}\n${r.stdout}${r.stderr.split('\n').filter((l) => /^(<---|--->|\S+: )/.test(l)).join('\n')}`)
    }
    outcomes.push(o)
  }
  const table = outcomes.map((o) => `${o.command.replace(work, '…').padEnd(44)} ours=${o.ours.padEnd(8)} vsftpd=${o.theirs.padEnd(8)} ${o.detail.ours ? `[${o.detail.ours} | ${o.detail.theirs}]` : ''}`).join('\n')
  if (process.env.PARITY_DEBUG) console.error(table)

  const differing = outcomes.filter((o) => o.ours !== o.theirs).map((o) => o.command)
  assert.deepEqual(differing, [], `outcomes differ:\n${table}`)
  // the failures we expect really are failures on both sides (no vacuous parity from a broken setup)
  const failing = outcomes.filter((o) => o.ours !== 'ok').map((o) => o.command)
  assert.deepEqual(failing, [
    'mkdir a', 'rm does-not-exist', 'rmdir a', 'mv a/nope.txt a/x.txt', 'get missing.txt -o {D}/missing.txt', 'cd nowhere',
    `put ${L('small.txt')} -o nodir/x.txt`, 'mkdir a/b/c/d', 'rm a', 'get a -o {D}/a-as-file', 'chmod 600 a/renamed.txt',
  ], table)
  // SITE CHMOD without the right to: vsftpd refuses its anonymous user (chmod_enable covers local users only),
  // we refuse a user without the "chmod" permission — both 550.
  const chmod = outcomes.find((o) => o.command.startsWith('chmod'))!
  assert.match(chmod.detail.ours, /^550 /, table)
  assert.match(chmod.detail.theirs, /^550 Permission denied/, table)

  assert.equal(listings.ours, listings.theirs)
  assert.equal(listings.ours, 'a/b/,a/renamed.txt')
  const ours = fileTree(f.home)
  assert.deepEqual(ours, fileTree(pub))
  assert.ok(ours['tree/d2/x/f5.bin'] && ours['tree/emptydir/'] && ours['a/renamed.txt'] && !ours['deep/'] && !ours['c/'] && !ours['a/over.txt'], JSON.stringify(ours, null, 1))
  assert.deepEqual(fileTree(L('down-ours')), fileTree(L('down-theirs')))
  assert.deepEqual(readFileSync(L('down-ours/back.bin')), readFileSync(L('big.bin')))
  assert.deepEqual(readFileSync(L('down-ours/overwritten.txt')), readFileSync(L('small.txt')))
  // the rename over an existing file replaced it on both sides
  assert.equal(ours['a/renamed.txt'], fileTree(work)['small.txt'])
  assert.deepEqual(fileTree(L('down-ours/tree')), fileTree(L('src')))
})
