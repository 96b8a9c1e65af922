import assert from 'node:assert/strict'
import net from 'node:net'
import {after, describe, it} from 'node:test'
import {
  CHECK_ORDER,
  allowRuleFor,
  bannerCheck,
  clockCheck,
  hostKeyCheck,
  ipFilterCheck,
  runDiagnostics,
  tcpFailure,
  versionCheck,
  withSkipped,
} from '../../src/protocol/diagnose.js'

describe('diagnose checks', () => {
  it('tcpFailure: a refused connection names the port and `cluster node start`', () => {
    const c = tcpFailure('ECONNREFUSED', '10.0.0.5', 14983, 1000)
    assert.equal(c.ok, false)
    assert.match(c.detail, /nothing is listening on 10\.0\.0\.5:14983/)
    assert.match(c.hint!, /cluster node start/)
    assert.match(c.hint!, /14983/)
  })

  it('ipFilterCheck: closed before any byte gives the exact allow rule', () => {
    const c = ipFilterCheck(false, true, '10.1.2.3')
    assert.equal(c.ok, false)
    assert.match(c.detail, /^closed before the SSH banner: the admin IP filter of HOST does not allow 10\.1\.2\.3/)
    assert.match(c.hint!, /`cluster ipfilter add --allow 10\.1\.2\.3\/32 --site admin`/)
    assert.equal(allowRuleFor('fd00::7'), 'cluster ipfilter add --allow fd00::7/128 --site admin')
  })

  it('ipFilterCheck: bytes received, or a connection left open, is not a filter', () => {
    assert.equal(ipFilterCheck(true, true, '10.1.2.3').ok, true)
    assert.equal(ipFilterCheck(false, false, '10.1.2.3').ok, true)
  })

  it('bannerCheck: accepts SSH-2.0, shows the identification, rejects other services', () => {
    assert.deepEqual(bannerCheck('SSH-2.0-ftpcluster_0.1.0', 1000, 14983), {name: 'ssh-banner', ok: true, detail: 'SSH-2.0-ftpcluster_0.1.0'})
    const http = bannerCheck('HTTP/1.1 400 Bad Request', 1000, 14980)
    assert.equal(http.ok, false)
    assert.match(http.detail, /not an SSH identification/)
    assert.match(bannerCheck(null, 2000, 14983).detail, /no SSH identification within 2 s/)
  })

  it('hostKeyCheck: passes without a pin, matches with or without the SHA256: prefix, shows both on mismatch', () => {
    assert.equal(hostKeyCheck('SHA256:abc', undefined).ok, true)
    assert.equal(hostKeyCheck('SHA256:abc', 'abc=').ok, true)
    const c = hostKeyCheck('SHA256:new', 'SHA256:old')
    assert.equal(c.ok, false)
    assert.match(c.detail, /presented SHA256:new, expected SHA256:old/)
    assert.match(c.hint!, /--host-key SHA256:new/)
    assert.equal(hostKeyCheck('SHA256:new', 'SHA256:old', () => 'register it again').hint, 'register it again')
  })

  it('versionCheck: a different version is a warning with a rolling-upgrade hint', () => {
    assert.equal(versionCheck('0.1.0', '0.1.0').ok, true)
    const c = versionCheck('0.1.0', '0.2.0')
    assert.equal(c.ok, false)
    assert.match(c.detail, /^warning: the node runs 0\.1\.0, this side 0\.2\.0/)
    assert.match(c.hint!, /rolling upgrade/)
  })

  it('clockCheck: tolerates the round trip, fails beyond the tolerance, passes a node without a time', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    assert.equal(clockCheck('2026-01-01T00:00:04Z', now, 10).ok, true)
    const behind = clockCheck('2025-12-31T23:59:30Z', now, 10)
    assert.equal(behind.ok, false)
    assert.match(behind.detail, /30 s behind/)
    assert.match(behind.hint!, /NTP/)
    assert.equal(clockCheck('2026-01-01T00:00:06Z', now, 4000).ok, true, 'within tolerance once half the round trip is allowed')
    assert.match(clockCheck(undefined, now, 10).detail, /^not checked/)
  })

  it('withSkipped: the checks after a failure are listed as skipped, in order', () => {
    const checks = withSkipped([{name: 'dns', ok: false, detail: 'x', hint: 'y'}], CHECK_ORDER, 'no name')
    assert.deepEqual(checks.map((c) => c.name), [...CHECK_ORDER])
    assert.ok(checks.slice(1).every((c) => !c.ok && c.detail === 'skipped: no name'))
  })
})

describe('runDiagnostics against local sockets', () => {
  const servers: net.Server[] = []
  after(() => servers.forEach((s) => s.close()))
  const serve = async (onSocket: (s: net.Socket) => void): Promise<number> => {
    const server = net.createServer(onSocket)
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.8.200', r))
    return (server.address() as net.AddressInfo).port
  }

  it('a listener that closes at once is reported as the IP filter, from the local address', async () => {
    const port = await serve((s) => s.destroy())
    const checks = await runDiagnostics({host: '127.0.8.200', port, localAddress: '127.0.8.201', timeoutMs: 2000, version: '0.1.0'})
    assert.deepEqual(checks.map((c) => [c.name, c.ok]), [['dns', true], ['tcp', true], ['ban', true], ['ip-filter', false], ['ssh-banner', false], ['host-key', false]])
    assert.match(checks[3].hint!, /--allow 127\.0\.8\.201\/32/)
  })

  it('a non-SSH service fails the banner check and shows what it said', async () => {
    const port = await serve((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
    const checks = await runDiagnostics({host: '127.0.8.200', port, timeoutMs: 2000, version: '0.1.0'})
    const banner = checks.find((c) => c.name === 'ssh-banner')!
    assert.equal(banner.ok, false)
    assert.match(banner.detail, /"HTTP\/1\.1 400 Bad Request"/)
  })

  it('a silent listener passes the IP filter and fails the banner within the timeout', async () => {
    const port = await serve(() => {})
    const checks = await runDiagnostics({host: '127.0.8.200', port, timeoutMs: 300, version: '0.1.0'})
    assert.deepEqual(checks.slice(3, 5).map((c) => [c.name, c.ok]), [['ip-filter', true], ['ssh-banner', false]])
  })

  it('a name that does not resolve fails dns and skips the rest', async () => {
    const checks = await runDiagnostics({host: 'no-such-host.invalid', port: 14983, timeoutMs: 2000, version: '0.1.0', credentials: {username: 'admin', password: 'x'}})
    assert.equal(checks[0].ok, false)
    assert.equal(checks.length, CHECK_ORDER.length)
    assert.ok(checks.slice(1).every((c) => c.detail.startsWith('skipped:')))
  })
})

describe('ftpChecks', () => {
  it('passes a greeting FTP port and a refusing (reachable) PASV range; skips when FTP is disabled', async () => {
    const {ftpChecks} = await import('../../src/protocol/diagnose.js')
    const net = await import('node:net')
    const server = net.createServer((s) => s.end('220 test ready\r\n'))
    await new Promise<void>((r) => server.listen(0, '127.0.8.201', r))
    const port = (server.address() as {port: number}).port
    try {
      const base = {enabled: true, port, advertise: '127.0.8.201', pasvPortMin: 1029, pasvPortMax: 1030}
      const checks = await ftpChecks('127.0.8.201', {ftp: base} as never, {timeoutMs: 2000})
      assert.deepEqual(checks.map((c) => [c.name, c.ok]), [['ftp', true], ['ftp-pasv', true]])
      const off = await ftpChecks('127.0.8.201', {ftp: {...base, enabled: false}} as never, {timeoutMs: 2000})
      assert.match(off[0].detail, /disabled/)
    } finally {
      server.close()
    }
  })
})
