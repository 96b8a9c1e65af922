import assert from 'node:assert/strict'
import net from 'node:net'
import {describe, it} from 'node:test'
import {defaultConfig} from '../../src/config/defaults.js'
import {ConfigValidationError, validateConfig} from '../../src/config/schema.js'
import {selfSignedCertificate} from '../../src/config/self-signed-cert.js'
import {ProxyFront} from '../../src/net/proxy-front.js'

const quiet = {info: () => {}}

/** Accepts one connection on 127.0.17.1 from `from` and returns what the front makes of it. */
async function resolveFrom(front: ProxyFront, from: string, send: string): Promise<{address: string | null; destroyed: boolean}> {
  const server = net.createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.17.1', r))
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r))
  const client = net.connect({host: '127.0.17.1', port: (server.address() as net.AddressInfo).port, localAddress: from})
  client.on('error', () => {})
  client.write(send)
  const socket = await accepted
  socket.on('error', () => {})
  try {
    const address = await front.clientAddress(socket, quiet)
    return {address, destroyed: socket.destroyed}
  } finally {
    client.destroy()
    socket.destroy()
    server.close()
  }
}

describe('ProxyFront', () => {
  it('off: the socket address, nothing read', async () => {
    const front = new ProxyFront('files', {enabled: false, trustedProxies: []})
    assert.deepEqual(await resolveFrom(front, '127.0.17.5', 'SSH-2.0-x\r\n'), {address: '127.0.17.5', destroyed: false})
  })

  it('on: a trusted proxy supplies the client address; LOCAL keeps the proxy\'s', async () => {
    const front = new ProxyFront('files', {enabled: true, trustedProxies: ['127.0.17.2/32']})
    assert.deepEqual(await resolveFrom(front, '127.0.17.2', 'PROXY TCP4 192.0.2.1 127.0.17.1 1 2\r\n'), {address: '192.0.2.1', destroyed: false})
    assert.deepEqual(await resolveFrom(front, '127.0.17.2', 'PROXY UNKNOWN\r\n'), {address: '127.0.17.2', destroyed: false})
  })

  it('on: an untrusted peer is dropped whatever it sends; a trusted one with garbage too', async () => {
    const front = new ProxyFront('files', {enabled: true, trustedProxies: ['127.0.17.2/32']})
    assert.deepEqual(await resolveFrom(front, '127.0.17.3', 'PROXY TCP4 192.0.2.1 127.0.17.1 1 2\r\n'), {address: null, destroyed: true})
    assert.deepEqual(await resolveFrom(front, '127.0.17.2', 'SSH-2.0-x\r\n'), {address: null, destroyed: true})
  })

  it('update applies to the next connection', async () => {
    const front = new ProxyFront('files', {enabled: true, trustedProxies: ['127.0.17.2/32']})
    front.update({enabled: true, trustedProxies: ['127.0.17.3']})
    assert.equal((await resolveFrom(front, '127.0.17.2', 'PROXY UNKNOWN\r\n')).address, null)
    assert.equal((await resolveFrom(front, '127.0.17.3', 'PROXY UNKNOWN\r\n')).address, '127.0.17.3')
  })
})

describe('config schema: sites.files.proxyProtocol', () => {
  const tls = selfSignedCertificate('test')
  const base = () => defaultConfig({adminUser: 'admin', adminPasswordHash: null, adminPublicKeys: [], sftpHostKey: 'KEY', tlsCert: tls.cert, tlsKey: tls.key, by: 'test'}) as unknown as Record<string, any>
  const error = (c: unknown) => {
    try {
      validateConfig(c)
    } catch (e) {
      if (e instanceof ConfigValidationError) return e.message
      throw e
    }
    return ''
  }

  it('defaults to off; a document without the field reads as off', () => {
    const c = base()
    assert.deepEqual(c.sites.files.proxyProtocol, {enabled: false, trustedProxies: []})
    delete c.sites.files.proxyProtocol
    assert.deepEqual(validateConfig(c).sites.files.proxyProtocol, {enabled: false, trustedProxies: []})
  })

  it('names the offending field', () => {
    const c = base()
    c.sites.files.proxyProtocol = {enabled: true, trustedProxies: []}
    assert.match(error(c), /^sites\.files\.proxyProtocol\.trustedProxies: name at least one/)
    c.sites.files.proxyProtocol = {enabled: true, trustedProxies: ['10.0.0.0/8', '300.1.1.1']}
    assert.match(error(c), /^sites\.files\.proxyProtocol\.trustedProxies\[1\]: /)
    c.sites.files.proxyProtocol = {enabled: 'yes', trustedProxies: []}
    assert.match(error(c), /^sites\.files\.proxyProtocol\.enabled: expected true or false/)
    c.sites.files.proxyProtocol = {enabled: false, trustedProxies: [], v: 2}
    assert.match(error(c), /^sites\.files\.proxyProtocol\.v: unknown field/)
  })
})
