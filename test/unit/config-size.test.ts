// One size rule for the configuration: the encoding every member reads (serializeConfig) refuses a document
// larger than MAX_CONFIG_BYTES, so a primary never commits what its secondaries would refuse; 200,000 users fit.
import assert from 'node:assert/strict'
import path from 'node:path'
import {describe, it} from 'node:test'
import {initNodeDir} from '../../src/config/node-dir.js'
import {validateConfig} from '../../src/config/schema.js'
import {ConfigStore, serializeConfig} from '../../src/config/store.js'
import {MAX_CONFIG_BYTES} from '../../src/protocol/index.js'
import {tempDir} from '../helpers/node-process.js'

const HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + 'A'.repeat(43) + '='

describe('configuration size rule', () => {
  it('serializeConfig refuses a document over the limit, naming its size and the limit', async () => {
    const dir = path.join(tempDir(), 'node')
    await initNodeDir(dir, {bind: '127.0.0.1', adminUser: 'admin', adminPassword: 'password1'})
    const store = await ConfigStore.open(dir)
    const size = Buffer.byteLength(serializeConfig(store.current))
    assert.throws(() => serializeConfig(store.current, size - 1), (e: Error & {code?: string}) => e.code === 'invalid' && e.message.includes(`${size} bytes`) && e.message.includes(`${size - 1} bytes`))
    assert.doesNotThrow(() => serializeConfig(store.current, size))
  })

  it('200,000 users fit under MAX_CONFIG_BYTES and read back valid', async () => {
    const dir = path.join(tempDir(), 'node')
    await initNodeDir(dir, {bind: '127.0.0.1', adminUser: 'admin', adminPassword: 'password1'})
    const store = await ConfigStore.open(dir)
    const config = structuredClone(store.current)
    for (let i = 0; i < 200_000; i++) config.users.push({name: `user${i}`, passwordHash: HASH, publicKeys: [], home: `/user${i}`, permissions: ['list', 'download', 'upload'], disabled: false})
    const text = serializeConfig(config)
    assert.ok(Buffer.byteLength(text) < MAX_CONFIG_BYTES, `${Buffer.byteLength(text)} bytes`)
    assert.equal(validateConfig(JSON.parse(text)).users.length, 200_000)
  })
})
