// A service identity whose certificate OpenSSL cannot load (it passes the schema's PEM check): FTPS is refused
// with a reply, the process keeps running and plain FTP keeps working. Address: 127.0.47.1.
import assert from 'node:assert/strict'
import {connect} from 'node:net'
import {test} from 'node:test'
import {RawFtp, startFtp} from '../helpers/ftp-fixture.js'

const A = {bind: '127.0.47.1', ftp: 24901, ftps: 24902, pasvMin: 24910, pasvMax: 24919}

test('FtpService with an unloadable TLS certificate: AUTH TLS gets 431, implicit FTPS is closed, plain FTP works', async (t) => {
  const f = await startFtp({bind: A.bind, ftpPort: A.ftp, ftpsPort: A.ftps, pasvMin: A.pasvMin, pasvMax: A.pasvMax, mutate: (c) => {
    c.serviceIdentity.tlsCert = '-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n'
  }})
  t.after(() => f.stop())
  const implicitClosed = await new Promise<boolean>((resolve) => {
    const s = connect({host: A.bind, port: A.ftps})
    const timer = setTimeout(() => resolve(false), 5000)
    s.on('error', () => {})
    s.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
    s.once('connect', () => s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]))) // the start of a ClientHello
  })
  assert.ok(implicitClosed, 'the implicit FTPS connection is closed')
  const c = await RawFtp.connect(A.bind, A.ftp)
  t.after(() => c.close())
  assert.equal((await c.reply())?.code, 220)
  assert.equal((await c.cmd('AUTH TLS'))?.code, 431)
  assert.equal(await c.login(), 230)
  assert.equal((await c.cmd('PWD'))?.code, 257)
})
