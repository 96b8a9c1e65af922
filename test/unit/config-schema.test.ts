import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {defaultConfig} from '../../src/config/defaults.js'
import {ConfigValidationError, redactSecrets, validateConfig, type ClusterConfig} from '../../src/config/schema.js'
import {hashPassword, verifyPassword} from '../../src/config/password.js'
import {selfSignedCertificate} from '../../src/config/self-signed-cert.js'

const tls = selfSignedCertificate('test')
const base = (): ClusterConfig =>
  defaultConfig({adminUser: 'admin', adminPasswordHash: 'scrypt$16384$8$1$c2FsdA==$aGFzaA==', sftpHostKey: 'KEY', tlsCert: tls.cert, tlsKey: tls.key, by: 'test'})

function rejects(mutate: (c: Record<string, any>) => void, field: RegExp): void {
  const c = structuredClone(base()) as Record<string, any>
  mutate(c)
  assert.throws(() => validateConfig(c), (e: unknown) => e instanceof ConfigValidationError && field.test(e.message), `expected ${field}`)
}

describe('config schema', () => {
  it('accepts the default configuration', () => {
    const c = base()
    assert.deepEqual(validateConfig(structuredClone(c)), c)
  })

  it('names the offending field', () => {
    rejects((c) => (c.sites.admin.port = 'x'), /^sites\.admin\.port: expected an integer/)
    rejects((c) => (c.sites.admin.ipFilter[2].cidr = '10.0.0.0/99'), /^sites\.admin\.ipFilter\[2\]\.cidr: .*prefix length/)
    rejects((c) => (c.sites.admin.ipFilter[0].action = 'maybe'), /^sites\.admin\.ipFilter\[0\]\.action/)
    rejects((c) => (c.revision = 0), /^revision: 0 is out of range/)
    rejects((c) => (c.sync.intervalSeconds = -1), /^sync\.intervalSeconds/)
    rejects((c) => (c.bogus = 1), /^config\.bogus: unknown field/)
    rejects((c) => delete c.users, /^users: expected an array/)
    rejects((c) => (c.adminUsers = []), /^adminUsers: at least one/)
  })

  it('refuses clear-text passwords and unsafe homes', () => {
    rejects((c) => (c.adminUsers[0].passwordHash = 'hunter2'), /^adminUsers\[0\]\.passwordHash: expected an scrypt hash/)
    rejects((c) => c.users.push({name: 'bob', passwordHash: null, publicKeys: [], home: '/../etc', permissions: [], disabled: false}), /^users\[0\]\.home/)
    rejects((c) => c.users.push({name: 'b b', passwordHash: null, publicKeys: [], home: '/b', permissions: [], disabled: false}), /^users\[0\]\.name/)
    rejects((c) => c.users.push({name: 'bob', passwordHash: null, publicKeys: [], home: '/b', permissions: ['fly'], disabled: false}), /^users\[0\]\.permissions\[0\]/)
  })

  it('refuses duplicate names, port clashes and inverted PASV ranges', () => {
    rejects((c) => c.adminUsers.push({...c.adminUsers[0]}), /^adminUsers\[1\]\.name: duplicate/)
    rejects((c) => (c.sites.files.sftp.port = c.sites.admin.port), /^sites\.files\.sftp\.port: port \d+ is already used by sites\.admin\.port/)
    rejects((c) => (c.sites.files.ftp.pasvPortMax = c.sites.files.ftp.pasvPortMin - 1), /^sites\.files\.ftp\.pasvPortMax/)
  })

  it('sites.files.syncUploads: true by default and for documents written before it existed; a boolean only', () => {
    assert.equal(base().sites.files.syncUploads, true)
    const old = base() as Record<string, any>
    delete old.sites.files.syncUploads
    assert.equal(validateConfig(old).sites.files.syncUploads, true)
    rejects((c) => (c.sites.files.syncUploads = 'no'), /^sites\.files\.syncUploads/)
  })

  it('refuses redacted secrets and redacts on read', () => {
    const r = redactSecrets(base())
    assert.equal(r.serviceIdentity.sftpHostKey, '<redacted>')
    assert.throws(() => validateConfig(r), /serviceIdentity: holds "<redacted>"/)
  })
})

describe('password hashing', () => {
  it('verifies scrypt hashes and never stores the clear text', async () => {
    const h = await hashPassword('s3cret-pass')
    assert.match(h, /^scrypt\$16384\$8\$1\$/)
    assert.ok(!h.includes('s3cret-pass'))
    assert.equal(await verifyPassword('s3cret-pass', h), true)
    assert.equal(await verifyPassword('wrong', h), false)
    assert.equal(await verifyPassword('s3cret-pass', null), false, 'unknown user: compared against a dummy hash, refused')
  })
})
