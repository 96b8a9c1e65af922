// Pure parts of the web site: session tokens, signing-key rotation, the XML reader, the If header, URL
// paths, X-Forwarded-For, the lock table on a shared directory, and the web fields of the schema.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {defaultConfig} from '../../src/config/defaults.js'
import {redactSecrets, validateConfig, type User} from '../../src/config/schema.js'
import {selfSignedCertificate} from '../../src/config/self-signed-cert.js'
import {parseIfHeader, submittedTokens} from '../../src/daemon/web/dav-if-header.js'
import {LockConflict, LockTable} from '../../src/daemon/web/dav-locks.js'
import {davPathOf, hrefOf} from '../../src/daemon/web/dav-paths.js'
import {parseXml, serializeElement, XmlError} from '../../src/daemon/web/dav-xml.js'
import {ForwardedFor} from '../../src/daemon/web/forwarded-for.js'
import {SharedState} from '../../src/daemon/web/shared-state.js'
import {newClaims, SESSION_LIFETIME_MS, signToken, verifyToken} from '../../src/daemon/web/session-token.js'
import {rotateKeys} from '../../src/daemon/web/signing-keys.js'
import {tempStorage} from './session-helpers.js'

const tls = selfSignedCertificate('test')
const base = () => defaultConfig({adminUser: 'admin', adminPasswordHash: 'scrypt$16384$8$1$c2FsdA==$aGFzaA==', sftpHostKey: 'KEY', tlsCert: tls.cert, tlsKey: tls.key, by: 'test'})
const alice: User = {name: 'alice', passwordHash: 'scrypt$16384$8$1$c2FsdA==$aGFzaA==', publicKeys: [], home: '/alice', permissions: [], disabled: false}

describe('web session tokens', () => {
  const keys = base().serviceIdentity.webSigningKeys
  const lookup = (epoch = 0, user = alice) => (name: string) => (name === user.name ? {user, epoch} : undefined)

  it('a signed token verifies on any holder of the key set', () => {
    const t = signToken(keys, newClaims(alice, 0))
    const v = verifyToken(t, structuredClone(keys), lookup())
    assert.ok(v.ok && v.user.name === 'alice')
  })

  it('refuses a changed payload, an unknown key, an expired token, a bumped epoch, a changed password and a removed user', () => {
    const t = signToken(keys, newClaims(alice, 0))
    const [v1, kid, payload, mac] = t.split('.')
    const forged = Buffer.from(JSON.stringify({...JSON.parse(Buffer.from(payload, 'base64url').toString()), u: 'root'})).toString('base64url')
    assert.deepEqual(verifyToken([v1, kid, forged, mac].join('.'), keys, lookup()), {ok: false, reason: 'bad-signature'})
    assert.deepEqual(verifyToken([v1, 'nokey', payload, mac].join('.'), keys, lookup()), {ok: false, reason: 'unknown-key'})
    assert.deepEqual(verifyToken(t, keys, lookup(), Date.now() + SESSION_LIFETIME_MS + 1), {ok: false, reason: 'expired'})
    assert.deepEqual(verifyToken(t, keys, lookup(1)), {ok: false, reason: 'revoked'})
    assert.deepEqual(verifyToken(t, keys, lookup(0, {...alice, passwordHash: 'scrypt$16384$8$1$b3RoZXI=$aGFzaA=='})), {ok: false, reason: 'revoked'})
    assert.deepEqual(verifyToken(t, keys, () => undefined), {ok: false, reason: 'no-user'})
    assert.deepEqual(verifyToken('garbage', keys, lookup()), {ok: false, reason: 'malformed'})
  })

  it('after rotation the new key signs and the previous one still verifies', () => {
    const old = signToken(keys, newClaims(alice, 0))
    const next = rotateKeys(keys)
    assert.notEqual(next.currentKeyId, keys.currentKeyId)
    assert.equal(next.keys.length, 2)
    assert.ok(verifyToken(old, next, lookup()).ok)
    const fresh = signToken(next, newClaims(alice, 0))
    assert.equal(fresh.split('.')[1], next.currentKeyId)
  })

  it('rotation drops keys retired longer than a session lifetime ago, and keeps at most four', () => {
    let set = keys
    for (let i = 0; i < 6; i++) set = rotateKeys(set)
    assert.ok(set.keys.length <= 4)
    const later = rotateKeys(set, new Date(Date.now() + 2 * SESSION_LIFETIME_MS))
    assert.deepEqual(later.keys.map((k) => k.id), [set.currentKeyId, later.currentKeyId])
  })
})

describe('web configuration fields', () => {
  it('a document without sites.web or webSigningKeys is accepted with the defaults (HTTPS 8443, no HTTP, no keys yet)', () => {
    const c = structuredClone(base()) as Record<string, any>
    delete c.sites.web
    delete c.serviceIdentity.webSigningKeys
    const v = validateConfig(c)
    assert.deepEqual(v.sites.web, {enabled: true, httpsPort: 8443, httpPort: null, proxyProtocol: {enabled: false, trustedProxies: []}, trustedProxies: [], sessionEpochs: {}})
    assert.deepEqual(v.serviceIdentity.webSigningKeys, {currentKeyId: '', keys: []})
  })

  it('names bad web fields and port clashes', () => {
    const bad = (mutate: (c: Record<string, any>) => void, re: RegExp) => {
      const c = structuredClone(base()) as Record<string, any>
      mutate(c)
      assert.throws(() => validateConfig(c), re)
    }
    bad((c) => (c.sites.web.httpPort = 2222), /sites\.web\.httpPort: port 2222 is already used by sites\.files\.sftp\.port/)
    bad((c) => (c.sites.web.httpsPort = 'x'), /sites\.web\.httpsPort: expected an integer/)
    bad((c) => (c.sites.web.trustedProxies = ['10.0.0.0/99']), /sites\.web\.trustedProxies\[0\]/)
    bad((c) => (c.sites.web.bogus = 1), /sites\.web\.bogus: unknown field/)
    bad((c) => (c.serviceIdentity.webSigningKeys.currentKeyId = 'nope'), /currentKeyId: "nope" is not one of the keys/)
    bad((c) => (c.serviceIdentity.webSigningKeys.keys[0].secret = 'c2hvcnQ='), /secret: expected at least 32 bytes/)
  })

  it('redaction hides the signing secrets and keeps the key ids', () => {
    const c = base()
    const r = redactSecrets(c)
    assert.equal(r.serviceIdentity.webSigningKeys.keys[0].secret, '<redacted>')
    assert.equal(r.serviceIdentity.webSigningKeys.keys[0].id, c.serviceIdentity.webSigningKeys.keys[0].id)
    assert.notEqual(c.serviceIdentity.webSigningKeys.keys[0].secret, '<redacted>')
  })
})

describe('WebDAV XML reader', () => {
  it('resolves namespaces and round-trips a dead property with its own prefixes', () => {
    const doc = parseXml('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:z="urn:z"><D:set><D:prop><z:p a="1" xml:lang="en">x &amp; <z:q>&#x1F600;</z:q></z:p></D:prop></D:set></D:propertyupdate>')
    assert.equal(doc.ns, 'DAV:')
    const p = (((doc.children[0] as any).children[0] as any).children[0])
    assert.equal(serializeElement(p), '<p xmlns="urn:z" a="1" xml:lang="en">x &amp; <q>😀</q></p>')
  })

  it('refuses DOCTYPEs, undefined entities, unbound or empty-bound prefixes, mismatched tags and trailing content', () => {
    for (const bad of [
      '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
      '<x>&e;</x>',
      '<a:x/>',
      '<x xmlns:a=""/>',
      '<x></y>',
      '<x/><y/>',
      '<x a="1" a="2"/>',
      '<x>' + '<y>'.repeat(100) + '</y>'.repeat(100) + '</x>',
    ]) assert.throws(() => parseXml(bad), XmlError, bad.slice(0, 40))
  })
})

describe('WebDAV If header and paths', () => {
  it('parses untagged and tagged lists with Not, tokens and etags', () => {
    const l = parseIfHeader('</dav/a> (<urn:uuid:1> ["e1"]) (Not <DAV:no-lock>)')
    assert.equal(l.length, 2)
    assert.equal(l[0].resource, '/dav/a')
    assert.deepEqual(l[0].conditions, [{not: false, token: 'urn:uuid:1'}, {not: false, etag: '"e1"'}])
    assert.deepEqual(l[1].conditions, [{not: true, token: 'DAV:no-lock'}])
    assert.deepEqual(submittedTokens(l), ['urn:uuid:1', 'DAV:no-lock'])
    assert.throws(() => parseIfHeader('(<unterminated'))
    assert.throws(() => parseIfHeader('garbage'))
  })

  it('decodes each URL segment once and refuses traversal, NUL, slashes in segments and the state directory', () => {
    assert.equal(davPathOf('/dav/a%20b/c%25d'), '/a b/c%d')
    assert.equal(davPathOf('/dav/'), '/')
    for (const bad of ['/dav/../x', '/dav/%2e%2e/x', '/dav/a/%2E%2E', '/dav/%00', '/dav/a%2fb', '/dav/a%5cb', '/dav/.', '/dav/.ftpcluster-webdav/locks.json', '/dav/%zz', '/dav/a#b', '/other']) {
      assert.throws(() => davPathOf(bad), bad)
    }
    assert.equal(hrefOf('/a b/ü', true), '/dav/a%20b/%C3%BC/')
  })

  it('X-Forwarded-For counts only from trusted proxies, and only up to the first untrusted hop', () => {
    const f = new ForwardedFor(['10.0.0.5/32', '10.0.0.6/32'])
    assert.equal(f.clientAddress('10.0.0.5', '203.0.113.7'), '203.0.113.7')
    assert.equal(f.clientAddress('10.0.0.5', '1.1.1.1, 203.0.113.7, 10.0.0.6'), '203.0.113.7')
    assert.equal(f.clientAddress('198.51.100.1', '203.0.113.7'), '198.51.100.1')
    assert.equal(f.clientAddress('10.0.0.5', 'not-an-ip'), '10.0.0.5')
    assert.equal(new ForwardedFor([]).clientAddress('10.0.0.5', '203.0.113.7'), '10.0.0.5')
  })
})

describe('WebDAV lock table on a shared directory', () => {
  it('two tables on the same directory (two nodes) see each other\'s locks; conflicts, shared locks, expiry', async (t) => {
    const dir = await tempStorage(t)
    let now = Date.now()
    const a = new LockTable(new SharedState(dir), () => now)
    const b = new LockTable(new SharedState(dir), () => now)
    const ex = await a.lock({root: '/alice/f', depth: '0', scope: 'exclusive', owner: '', user: 'alice', timeoutSeconds: 60})
    await assert.rejects(b.lock({root: '/alice/f', depth: '0', scope: 'shared', owner: '', user: 'bob', timeoutSeconds: 60}), LockConflict)
    await assert.rejects(b.checkWrite('/alice/f', {user: 'alice', tokens: []}), LockConflict)
    await b.checkWrite('/alice/f', {user: 'alice', tokens: [ex.token]})
    await assert.rejects(b.checkWrite('/alice/f', {user: 'bob', tokens: [ex.token]}), LockConflict, 'a token works only for its owner')
    await assert.rejects(b.checkWrite('/alice', {user: 'alice', tokens: [], members: true}), LockConflict, 'deleting the parent needs the member lock')
    await b.checkWrite('/alice/g', {user: 'alice', tokens: []})
    const s1 = await a.lock({root: '/alice/d', depth: 'infinity', scope: 'shared', owner: '', user: 'alice', timeoutSeconds: 60})
    const s2 = await b.lock({root: '/alice/d', depth: 'infinity', scope: 'shared', owner: '', user: 'alice', timeoutSeconds: 60})
    await b.checkWrite('/alice/d/x', {user: 'alice', tokens: [s2.token]})
    await assert.rejects(a.lock({root: '/alice/d/x', depth: '0', scope: 'exclusive', owner: '', user: 'alice', timeoutSeconds: 60}), LockConflict)
    assert.equal(await b.unlock(s1.token, '/alice/d', 'bob'), 'not-owner')
    assert.equal(await b.unlock(s1.token, '/alice/d', 'alice'), 'ok')
    now += 61_000
    assert.deepEqual(await b.all(), [], 'expired locks are gone')
    await b.checkWrite('/alice/f', {user: 'alice', tokens: []})
  })

  it('concurrent LOCKs of one resource from many tables: exactly one wins', async (t) => {
    const dir = await tempStorage(t)
    const tables = Array.from({length: 8}, () => new LockTable(new SharedState(dir)))
    const results = await Promise.allSettled(tables.map((tb, i) => tb.lock({root: '/alice/race', depth: '0', scope: 'exclusive', owner: '', user: `u${i}`, timeoutSeconds: 60})))
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
    assert.equal((await tables[0].all()).length, 1)
  })
})
