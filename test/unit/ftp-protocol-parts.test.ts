// Unit tests of the FTP engine's pure parts: PORT/EPRT parsing, PASV/EPSV replies, ls -l and MLSx lines,
// the FileErrorKind → reply-code mapping.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {formatEpsv, formatPasv, normalizeAddress, parseEprt, parsePort} from '../../src/daemon/ftp/data-address.js'
import {listLine, mdtm, mlsxFacts} from '../../src/daemon/ftp/list-format.js'
import {fileErrorReply} from '../../src/daemon/ftp/reply-codes.js'
import {FileError, type FileStat} from '../../src/daemon/session/types.js'

const stat = (over: Partial<FileStat>): FileStat => ({
  name: 'a.txt', size: 5, mtime: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), atime: new Date(), mode: 0o100644,
  isDirectory: false, isFile: true, isSymlink: false, uid: 0, gid: 0, ...over,
})

describe('data-address', () => {
  it('parsePort reads h1,h2,h3,h4,p1,p2 and rejects malformed input', () => {
    assert.deepEqual(parsePort('127,0,30,9,78,32'), {host: '127.0.30.9', port: 78 * 256 + 32})
    for (const bad of ['', '1,2,3,4,5', '256,0,0,1,1,1', '1,2,3,4,5,x', '1,2,3,4,5,6,7']) assert.equal(parsePort(bad), null)
  })
  it('parseEprt reads IPv4 and IPv6 forms and rejects mismatched families', () => {
    assert.deepEqual(parseEprt('|1|132.235.1.2|6275|'), {host: '132.235.1.2', port: 6275})
    assert.deepEqual(parseEprt('|2|::1|5282|'), {host: '::1', port: 5282})
    for (const bad of ['|1|::1|5282|', '|2|1.2.3.4|5|', '|3|1.2.3.4|5|', '|1|1.2.3.4|70000|', '1.2.3.4']) assert.equal(parseEprt(bad), null)
  })
  it('formats PASV (IPv4 only) and EPSV replies', () => {
    assert.equal(formatPasv('127.0.30.1', 20100), 'Entering Passive Mode (127,0,30,1,78,132)')
    assert.equal(formatPasv('::1', 20100), null)
    assert.equal(formatEpsv(20100), 'Entering Extended Passive Mode (|||20100|)')
  })
  it('normalizeAddress maps IPv4-mapped IPv6 to IPv4', () => {
    assert.equal(normalizeAddress('::ffff:127.0.30.2'), '127.0.30.2')
    assert.equal(normalizeAddress('::1'), '::1')
  })
})

describe('list-format', () => {
  it('listLine prints an ls -l line with a year for old files and a time for recent ones', () => {
    const now = Date.UTC(2024, 0, 10)
    assert.equal(listLine(stat({}), now), '-rw-r--r--    1 ftp      ftp                 5 Jan 02 03:04 a.txt')
    assert.match(listLine(stat({}), Date.UTC(2025, 6, 1)), / Jan 02  2024 a\.txt$/)
    assert.match(listLine(stat({name: 'd', isDirectory: true, isFile: false, mode: 0o40755}), now), /^drwxr-xr-x .* 4096 Jan 02 03:04 d$/)
  })
  it('mdtm and mlsxFacts follow RFC 3659', () => {
    assert.equal(mdtm(new Date(Date.UTC(2024, 0, 2, 3, 4, 5))), '20240102030405')
    assert.equal(mlsxFacts(stat({}), () => true), 'type=file;size=5;modify=20240102030405;perm=adfrw;unix.mode=0644;')
    assert.equal(mlsxFacts(stat({isDirectory: true, isFile: false, mode: 0o40755}), (p) => p === 'list'), 'type=dir;modify=20240102030405;perm=el;unix.mode=0755;')
  })
})

describe('reply-codes', () => {
  it('maps every FileErrorKind to one FTP reply', () => {
    assert.equal(fileErrorReply(new FileError('not-found', 'x')).code, 550)
    assert.equal(fileErrorReply(new FileError('permission', 'x')).code, 550)
    assert.equal(fileErrorReply(new FileError('no-space', 'x')).code, 452)
    assert.equal(fileErrorReply(new FileError('invalid-path', 'x')).code, 553)
    assert.equal(fileErrorReply(new FileError('busy', 'x')).code, 450)
    assert.equal(fileErrorReply(Object.assign(new Error('x'), {code: 'ENOSPC'})).code, 452)
    assert.equal(fileErrorReply(new Error('boom')).code, 451)
  })
})
