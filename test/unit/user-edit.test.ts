import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {addUser, keyInfo, parsePermissions, parsePublicKeys, removeUser, setPasswordHash, userSummary} from '../../src/cli/user-edit.js'
import {ALL_PERMISSIONS, type ClusterConfig} from '../../src/config/schema.js'

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop'
const HASH = 'scrypt$16384$8$1$c2FsdA==$aGFzaA=='
const config = () => ({users: []}) as unknown as ClusterConfig

describe('user-edit', () => {
  it('parsePermissions keeps the canonical order and accepts all / none', () => {
    assert.deepEqual(parsePermissions('upload, list,download'), ['list', 'download', 'upload'])
    assert.deepEqual(parsePermissions('all'), ALL_PERMISSIONS)
    assert.deepEqual(parsePermissions('none'), [])
  })

  it('parsePermissions names the unknown word and --permissions', () => {
    assert.throws(() => parsePermissions('list,fly'), /--permissions: unknown permission "fly"/)
    assert.throws(() => parsePermissions(','), /--permissions: empty list/)
  })

  it('addUser defaults the home to /NAME and every permission', () => {
    const c = config()
    const u = addUser(c, {name: 'alice', passwordHash: HASH, publicKeys: []})
    assert.equal(u.home, '/alice')
    assert.deepEqual(u.permissions, ALL_PERMISSIONS)
    assert.equal(c.users.length, 1)
  })

  it('addUser refuses a duplicate, a user without credentials and a relative home', () => {
    const c = config()
    addUser(c, {name: 'alice', passwordHash: HASH, publicKeys: []})
    assert.throws(() => addUser(c, {name: 'alice', passwordHash: HASH, publicKeys: []}), /already exists/)
    assert.throws(() => addUser(c, {name: 'bob', passwordHash: null, publicKeys: []}), /needs a password or a public key/)
    assert.throws(() => addUser(c, {name: 'bob', passwordHash: HASH, publicKeys: [], home: 'bob'}), /--home: "bob" must be absolute/)
  })

  it('removeUser and setPasswordHash refuse an unknown user', () => {
    const c = config()
    addUser(c, {name: 'alice', passwordHash: null, publicKeys: [KEY]})
    assert.throws(() => removeUser(c, 'bob'), /no user "bob"/)
    assert.throws(() => setPasswordHash(c, 'bob', HASH), /no user "bob"/)
    assert.equal(setPasswordHash(c, 'alice', HASH).passwordHash, HASH)
    assert.equal(removeUser(c, 'alice').name, 'alice')
    assert.equal(c.users.length, 0)
  })

  it('userSummary never carries the hash and describes the keys', () => {
    const c = config()
    const s = userSummary(addUser(c, {name: 'alice', passwordHash: HASH, publicKeys: [KEY]}))
    assert.equal(JSON.stringify(s).includes('scrypt'), false)
    assert.equal(s.hasPassword, true)
    assert.equal(s.publicKeys[0].type, 'ssh-ed25519')
    assert.equal(s.publicKeys[0].comment, 'alice@laptop')
    assert.match(s.publicKeys[0].fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/)
    assert.equal(keyInfo('garbage').type, 'unknown')
  })

  it('parsePublicKeys reads authorized_keys lines and refuses a private key', () => {
    assert.deepEqual(parsePublicKeys(`# mine\n${KEY}\n\n`, 'k.pub'), [KEY])
    assert.throws(() => parsePublicKeys('-----BEGIN OPENSSH PRIVATE KEY-----\n…', 'id'), /id is a private key/)
    assert.throws(() => parsePublicKeys('hello', 'k.pub'), /k\.pub line 1 is not an OpenSSH public key/)
    assert.throws(() => parsePublicKeys('\n', 'k.pub'), /holds no key/)
  })
})
