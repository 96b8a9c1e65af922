import assert from 'node:assert/strict'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {test} from 'node:test'
import ssh2 from 'ssh2'
import {HOST, PASSWORD, collect, missingTools, startFixture} from '../helpers/sftp-fixture.js'

/** One password login attempt with ssh2's client from `localAddress`: 'ok', 'denied' or 'refused' (closed before the banner). */
function tryPassword(port: number, localAddress: string, password: string): Promise<'ok' | 'denied' | 'refused'> {
  return new Promise((resolve) => {
    const c = new ssh2.Client()
    let banner = false
    const done = (v: 'ok' | 'denied' | 'refused') => {
      c.removeAllListeners()
      c.on('error', () => {})
      c.end()
      resolve(v)
    }
    c.on('handshake', () => (banner = true))
    c.on('ready', () => done('ok'))
    c.on('error', (e: Error & {level?: string}) => done(e.level === 'client-authentication' ? 'denied' : banner ? 'denied' : 'refused'))
    c.on('close', () => done(banner ? 'denied' : 'refused'))
    c.connect({host: HOST, port, localAddress, username: 'alice', password, tryKeyboard: false, readyTimeout: 10_000})
  })
}

const curlSkip = missingTools('curl')

test('curl sftp://: password login downloads and uploads; a wrong password is refused', {skip: curlSkip}, async (t) => {
  const f = await startFixture(t)
  const src = path.join(f.dir, 'up.txt')
  await writeFile(src, 'uploaded by curl\n')
  const base = ['-sS', '--insecure', '--interface', HOST]
  const up = await collect(f.spawnTracked('curl', [...base, '-u', `alice:${PASSWORD}`, '-T', src, `sftp://${HOST}:${f.port}/up.txt`]), 20_000)
  assert.equal(up.code, 0, up.stderr)
  assert.equal(await readFile(path.join(f.home, 'up.txt'), 'utf8'), 'uploaded by curl\n')
  const down = await collect(f.spawnTracked('curl', [...base, '-u', `alice:${PASSWORD}`, `sftp://${HOST}:${f.port}/up.txt`]), 20_000)
  assert.equal(down.code, 0, down.stderr)
  assert.equal(down.stdout, 'uploaded by curl\n')
  const wrong = await collect(f.spawnTracked('curl', [...base, '-u', 'alice:wrong', `sftp://${HOST}:${f.port}/up.txt`]), 20_000)
  assert.equal(wrong.code, 67, `curl exit ${wrong.code}: ${wrong.stderr}`) // CURLE_LOGIN_DENIED
  const unknown = await collect(f.spawnTracked('curl', [...base, '-u', 'nobody:wrong', `sftp://${HOST}:${f.port}/up.txt`]), 20_000)
  assert.equal(unknown.code, 67)
})

test('sftp auth: repeated wrong passwords from 127.0.20.5 ban it; 127.0.20.6 still logs in', async (t) => {
  const f = await startFixture(t)
  let banned = false
  for (let i = 0; i < 50 && !banned; i++) {
    const r = await tryPassword(f.port, '127.0.20.5', `wrong-${i}`)
    assert.notEqual(r, 'ok')
    banned = r === 'refused'
  }
  assert.ok(banned, 'the address was not banned after 50 wrong passwords')
  assert.ok(f.defender.isBanned('127.0.20.5'))
  assert.equal(await tryPassword(f.port, '127.0.20.5', PASSWORD), 'refused')
  const started = Date.now()
  assert.equal(await tryPassword(f.port, '127.0.20.6', PASSWORD), 'ok')
  assert.ok(Date.now() - started < 1000, 'another address logs in within 1 s')
})

test('sftp auth: MaxAuthTries disconnects after the configured number of failures', async (t) => {
  const f = await startFixture(t)
  const tries = f.store.current.limits.maxAuthTries
  let attempts = 0
  const result = await new Promise<string>((resolve) => {
    const c = new ssh2.Client()
    c.on('ready', () => resolve('ok'))
    c.on('error', (e: Error) => resolve(e.message))
    c.on('close', () => resolve('closed'))
    c.connect({
      host: HOST, port: f.port, localAddress: '127.0.20.7', username: 'alice', readyTimeout: 10_000,
      authHandler: (_methods, _partial, next) => {
        attempts += 1
        if (attempts > tries + 3) return next(false as unknown as ssh2.AuthenticationType)
        next({type: 'password', username: 'alice', password: `bad-${attempts}`})
      },
    })
  })
  assert.notEqual(result, 'ok')
  assert.ok(attempts <= tries + 1, `server allowed ${attempts} attempts (MaxAuthTries ${tries})`)
})

test('sftp auth: a disabled user is refused, and disabling a user closes its live session', async (t) => {
  const f = await startFixture(t)
  const c = new ssh2.Client()
  await new Promise<void>((resolve, reject) => {
    c.on('ready', () => resolve())
    c.on('error', reject)
    c.connect({host: HOST, port: f.port, localAddress: '127.0.20.8', username: 'alice', password: PASSWORD})
  })
  t.after(() => c.end())
  const closed = new Promise<void>((resolve) => c.on('close', () => resolve()))
  const next = await f.store.change((d) => void (d.users[0].disabled = true), {by: 'test', from: 'local', summary: 'disable'})
  await f.service.reload(next, next)
  await closed
  assert.equal(await tryPassword(f.port, '127.0.20.8', PASSWORD), 'denied')
})

test('sftp gate: an address denied by the IP filter is closed before the banner', async (t) => {
  const f = await startFixture(t)
  const next = await f.store.change((d) => {
    d.sites.files.ipFilter = [{action: 'deny', cidr: '127.0.20.9'}, {action: 'allow', cidr: '0.0.0.0/0'}]
  }, {by: 'test', from: 'local', summary: 'filter'})
  await f.service.reload(next, next)
  assert.equal(await tryPassword(f.port, '127.0.20.9', PASSWORD), 'refused')
  assert.equal(await tryPassword(f.port, '127.0.20.10', PASSWORD), 'ok')
})
