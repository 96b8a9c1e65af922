// Unit tests of the FTPS-compatibility and admin-refusal parts: Telnet stripping of command lines, the
// sites.files.ftp.requireTlsSessionReuse field, the bounded log of refused configuration writes, DER INTEGERs of
// the self-signed certificate.
import assert from 'node:assert/strict'
import {appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'
import {createSecureContext} from 'node:tls'
import {defaultConfig} from '../../src/config/defaults.js'
import {REJECTED_KEPT, RejectedLog} from '../../src/config/rejected-log.js'
import {ConfigValidationError, validateConfig} from '../../src/config/schema.js'
import {derInteger, selfSignedCertificate} from '../../src/config/self-signed-cert.js'
import {stripTelnet} from '../../src/daemon/ftp/control-channel.js'

const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))))

describe('stripTelnet', () => {
  it('drops IAC IP and IAC DM before ABOR (SO_OOBINLINE: the urgent IAC stays in the stream)', () => {
    assert.equal(stripTelnet(b([0xff, 0xf4, 0xff, 0xf2], 'ABOR')).toString(), 'ABOR')
  })
  it('drops the bare DM that BSD clients leave once the kernel took the urgent IAC out of band', () => {
    // tnftp: send("IAC IP IAC", MSG_OOB) then "DM ABOR\r\n"; the server reads IAC IP, DM, ABOR
    assert.equal(stripTelnet(b([0xff, 0xf4, 0xf2], 'ABOR')).toString(), 'ABOR')
    assert.equal(stripTelnet(b([0xf2], 'ABOR')).toString(), 'ABOR')
  })
  it('keeps IAC IAC as a 0xff byte, drops option negotiation, leaves UTF-8 names alone', () => {
    assert.deepEqual(stripTelnet(b('RETR a', [0xff, 0xff], 'b')), b('RETR a', [0xff], 'b'))
    assert.equal(stripTelnet(b([0xff, 0xfd, 0x01], 'NOOP')).toString(), 'NOOP')
    const utf8 = Buffer.from('STOR 𝄞.txt', 'utf8') // a 4-byte sequence starts with 0xf0
    assert.deepEqual(stripTelnet(utf8), utf8)
    assert.equal(stripTelnet(Buffer.from('PWD')).toString(), 'PWD')
  })
})

describe('config schema: sites.files.ftp.requireTlsSessionReuse', () => {
  const tls = selfSignedCertificate('test')
  const base = () => defaultConfig({adminUser: 'admin', adminPasswordHash: null, adminPublicKeys: [], sftpHostKey: 'KEY', tlsCert: tls.cert, tlsKey: tls.key, by: 'test'}) as unknown as Record<string, any>

  it('defaults to true; a document without the field reads as true (the check was always on)', () => {
    const c = base()
    assert.equal(c.sites.files.ftp.requireTlsSessionReuse, true)
    delete c.sites.files.ftp.requireTlsSessionReuse
    assert.equal(validateConfig(c).sites.files.ftp.requireTlsSessionReuse, true)
  })
  it('accepts false, refuses a non-boolean naming the field', () => {
    const c = base()
    c.sites.files.ftp.requireTlsSessionReuse = false
    assert.equal(validateConfig(c).sites.files.ftp.requireTlsSessionReuse, false)
    c.sites.files.ftp.requireTlsSessionReuse = 'no'
    assert.throws(() => validateConfig(c), (e: unknown) => e instanceof ConfigValidationError && /^sites\.files\.ftp\.requireTlsSessionReuse: expected true or false/.test(e.message))
  })
})

describe('RejectedLog', () => {
  it('lists refusals newest first, survives a torn last line, and stays bounded', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rejected-log-'))
    try {
      mkdirSync(path.join(dir, 'config'))
      const log = RejectedLog.of(dir)
      assert.equal(RejectedLog.of(dir), log, 'one writer per data directory')
      assert.deepEqual(await log.list(), {kept: 0, rejected: []})
      const n = 2 * REJECTED_KEPT + 5
      await Promise.all(Array.from({length: n}, (_, i) => log.record({time: new Date(i * 1000).toISOString(), by: 'admin', from: '127.0.0.1', reason: `r${i} ${'x'.repeat(i === 0 ? 600 : 1)}`})))
      const doc = await log.list(3)
      assert.deepEqual(doc.rejected.map((r) => r.reason.split(' ')[0]), [`r${n - 1}`, `r${n - 2}`, `r${n - 3}`])
      assert.equal(doc.kept, REJECTED_KEPT)
      const lines = readFileSync(log.file, 'utf8').split('\n').filter(Boolean).length
      assert.ok(lines < 2 * REJECTED_KEPT, `${lines} lines on disk`)
      // a crash mid-append leaves a torn line: it is skipped
      appendFileSync(log.file, '{"time":"2026')
      assert.equal((await log.list(1)).rejected[0].reason.split(' ')[0], `r${n - 1}`)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
  it('cuts long reasons', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rejected-log-'))
    try {
      mkdirSync(path.join(dir, 'config'))
      await RejectedLog.of(dir).record({time: 't', by: 'a', from: 'f', reason: 'y'.repeat(5000)})
      assert.equal((await RejectedLog.of(dir).list()).rejected[0].reason.length, 500)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('selfSignedCertificate', () => {
  it('encodes INTEGERs minimally: a random serial starting with 0x00 made 1 certificate in 256 unloadable ("illegal padding")', () => {
    assert.deepEqual(derInteger(Buffer.from([0x00, 0x10, 0x20])), Buffer.from([0x02, 0x02, 0x10, 0x20]))
    assert.deepEqual(derInteger(Buffer.from([0x00, 0x00, 0x90])), Buffer.from([0x02, 0x02, 0x00, 0x90]))
    assert.deepEqual(derInteger(Buffer.from([0x90])), Buffer.from([0x02, 0x02, 0x00, 0x90]))
    assert.deepEqual(derInteger(Buffer.from([0x00])), Buffer.from([0x02, 0x01, 0x00]))
    for (let i = 0; i < 20; i++) {
      const c = selfSignedCertificate('test')
      assert.doesNotThrow(() => createSecureContext({cert: c.cert, key: c.key}))
    }
  })
})
