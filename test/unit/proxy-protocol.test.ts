import assert from 'node:assert/strict'
import net from 'node:net'
import {describe, it} from 'node:test'
import {ProxyHeaderParser, ProxyProtocolError, V2_MAX, V2_SIGNATURE, readProxyHeader, type ParseResult} from '../../src/net/proxy-protocol.js'

/** A version 2 header as HAProxy's send-proxy-v2 writes it. */
function v2(command: 0 | 1, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(16)
  V2_SIGNATURE.copy(head)
  head[12] = 0x20 | command
  head[13] = family
  head.writeUInt16BE(body.length, 14)
  return Buffer.concat([head, body])
}

function tcp4(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12)
  Buffer.from(src.split('.').map(Number)).copy(b, 0)
  Buffer.from(dst.split('.').map(Number)).copy(b, 4)
  b.writeUInt16BE(sport, 8)
  b.writeUInt16BE(dport, 10)
  return b
}

function parseAll(bytes: Buffer): ParseResult {
  return new ProxyHeaderParser().push(bytes)
}

describe('ProxyHeaderParser', () => {
  it('v1 TCP4 line, bytes after it returned', () => {
    const r = parseAll(Buffer.from('PROXY TCP4 192.0.2.7 127.0.16.1 51234 2222\r\nSSH-2.0-x\r\n'))
    assert.ok(r.done)
    assert.deepEqual(r.header, {version: 1, command: 'proxy', source: {address: '192.0.2.7', port: 51234}, destination: {address: '127.0.16.1', port: 2222}})
    assert.equal(r.rest.toString(), 'SSH-2.0-x\r\n')
  })

  it('v1 TCP6 and UNKNOWN', () => {
    const r = parseAll(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 2\r\n'))
    assert.ok(r.done && r.header.command === 'proxy' && r.header.source.address === '2001:db8::1')
    const u = parseAll(Buffer.from('PROXY UNKNOWN\r\n'))
    assert.ok(u.done && u.header.command === 'local')
  })

  it('v2 PROXY TCP4 with TLVs after the addresses', () => {
    const tlv = Buffer.from([0x05, 0x00, 0x02, 0xab, 0xcd]) // PP2_TYPE_UNIQUE_ID, ignored
    const r = parseAll(Buffer.concat([v2(1, 0x11, Buffer.concat([tcp4('203.0.113.9', '127.0.16.1', 40000, 2222), tlv])), Buffer.from('hello')]))
    assert.ok(r.done)
    assert.deepEqual(r.header, {version: 2, command: 'proxy', source: {address: '203.0.113.9', port: 40000}, destination: {address: '127.0.16.1', port: 2222}})
    assert.equal(r.rest.toString(), 'hello')
  })

  it('v2 PROXY TCP6, IPv4-mapped source reads as IPv4', () => {
    const body = Buffer.alloc(36)
    Buffer.from('20010db8000000000000000000000042', 'hex').copy(body, 0)
    body[31] = 1 // ::1
    body.writeUInt16BE(5000, 32)
    body.writeUInt16BE(2222, 34)
    const r = parseAll(v2(1, 0x21, body))
    assert.ok(r.done && r.header.command === 'proxy')
    assert.equal(r.header.source.address, '2001:db8::42')
    assert.equal(r.header.destination.address, '::1')
    const mapped = Buffer.alloc(36)
    Buffer.from('00000000000000000000ffffc0000207', 'hex').copy(mapped, 0)
    const m = parseAll(v2(1, 0x21, mapped))
    assert.ok(m.done && m.header.command === 'proxy' && m.header.source.address === '192.0.2.7')
  })

  it('v2 LOCAL is accepted (health checks): the socket address is used', () => {
    const r = parseAll(v2(0, 0x00, Buffer.alloc(0)))
    assert.ok(r.done)
    assert.deepEqual(r.header, {version: 2, command: 'local'})
  })

  it('a header arriving one byte at a time still parses (v1 and v2)', () => {
    for (const bytes of [Buffer.from('PROXY TCP4 10.1.2.3 10.0.0.1 1000 2121\r\nUSER'), Buffer.concat([v2(1, 0x11, tcp4('10.1.2.3', '10.0.0.1', 1000, 2121)), Buffer.from('USER')])]) {
      const p = new ProxyHeaderParser()
      let r: ParseResult = {done: false}
      let i = 0
      for (; i < bytes.length && !r.done; i++) r = p.push(bytes.subarray(i, i + 1))
      assert.ok(r.done && r.header.command === 'proxy' && r.header.source.address === '10.1.2.3')
      assert.equal(Buffer.concat([r.rest, bytes.subarray(i)]).toString(), 'USER')
    }
  })

  it('garbage is refused at the first byte that cannot start a header', () => {
    assert.throws(() => parseAll(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')), ProxyProtocolError)
    assert.throws(() => parseAll(Buffer.from('USER alice\r\n')), /not a PROXY protocol header/)
    const p = new ProxyHeaderParser()
    assert.deepEqual(p.push(Buffer.from('\r\n\r\n')), {done: false})
    assert.throws(() => p.push(Buffer.from('X')), ProxyProtocolError)
    assert.throws(() => parseAll(Buffer.from('PROXY TCP4 1.2.3.999 1.2.3.4 1 2\r\n')), /address/)
    assert.throws(() => parseAll(Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1 99999\r\n')), /port/)
    assert.throws(() => parseAll(Buffer.from('PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n')), /protocol/)
    assert.throws(() => parseAll(v2(1, 0x31, Buffer.alloc(216))), /family/) // AF_UNIX
    const badVersion = v2(1, 0x11, tcp4('1.2.3.4', '1.2.3.4', 1, 2))
    badVersion[12] = 0x11
    assert.throws(() => parseAll(badVersion), /version/)
  })

  it('oversized headers are refused without waiting for the bytes', () => {
    const head = v2(1, 0x11, Buffer.alloc(0))
    head.writeUInt16BE(V2_MAX, 14)
    assert.throws(() => parseAll(head), /exceeds the limit/)
    assert.throws(() => parseAll(Buffer.from('PROXY TCP4 ' + '1'.repeat(200))), /no CRLF within 107/)
    assert.throws(() => parseAll(Buffer.from(`PROXY TCP4 ${'1'.repeat(100)}\r\n`)), /longer than 107/)
  })
})

/** A connected socket pair on loopback: [client, server side]. */
async function pair(): Promise<[net.Socket, net.Socket, () => void]> {
  const server = net.createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.17.1', r))
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r))
  const port = (server.address() as net.AddressInfo).port
  const client = net.connect({host: '127.0.17.1', port})
  client.on('error', () => {})
  const side = await accepted
  side.on('error', () => {})
  return [client, side, () => server.close()]
}

describe('readProxyHeader', () => {
  it('takes the header off the socket and leaves the following bytes for the next reader', async () => {
    const [client, side, close] = await pair()
    try {
      const header = v2(1, 0x11, tcp4('198.51.100.4', '127.0.17.1', 1234, 2222))
      client.write(header.subarray(0, 5))
      setTimeout(() => client.write(Buffer.concat([header.subarray(5), Buffer.from('SSH-2.0-test\r\n')])), 20)
      const h = await readProxyHeader(side)
      assert.ok(h.command === 'proxy' && h.source.address === '198.51.100.4')
      const next = await new Promise<string>((r) => side.once('data', (d: Buffer) => r(d.toString())))
      assert.equal(next, 'SSH-2.0-test\r\n')
    } finally {
      client.destroy()
      side.destroy()
      close()
    }
  })

  it('rejects when no complete header arrives in time', async () => {
    const [client, side, close] = await pair()
    try {
      client.write('PROXY TCP4 ')
      const started = Date.now()
      await assert.rejects(readProxyHeader(side, {timeoutMs: 150}), /no complete PROXY header within 150 ms/)
      assert.ok(Date.now() - started < 1000)
    } finally {
      client.destroy()
      side.destroy()
      close()
    }
  })

  it('rejects a peer that closes before the header is complete, and garbage', async () => {
    const [client, side, close] = await pair()
    const [client2, side2, close2] = await pair()
    try {
      client.end('PROXY TCP4')
      await assert.rejects(readProxyHeader(side), /closed before/)
      client2.write('GET / HTTP/1.0\r\n\r\n')
      await assert.rejects(readProxyHeader(side2), /not a PROXY protocol header/)
    } finally {
      for (const s of [client, side, client2, side2]) s.destroy()
      close()
      close2()
    }
  })
})
