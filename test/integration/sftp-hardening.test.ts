// Reliability item 13: an oversized SFTP packet closes that client's channel without harming the daemon;
// open handles per session are capped. Uses the in-process SFTP fixture (127.0.20.1).
import assert from 'node:assert/strict'
import {test} from 'node:test'
import ssh2, {type ClientChannel, type SFTPWrapper} from 'ssh2'
import {HOST, PASSWORD, missingTools, startFixture} from '../helpers/sftp-fixture.js'

function login(port: number): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client()
    c.once('ready', () => resolve(c))
    c.once('error', reject)
    c.connect({host: HOST, port, username: 'alice', password: PASSWORD, readyTimeout: 10_000})
  })
}

test('sftp hardening: an oversized packet ends that channel; the daemon keeps serving', {skip: missingTools('ssh-keygen')}, async (t) => {
  const f = await startFixture(t)
  const c = await login(f.port)
  const closed = await new Promise<boolean>((resolve, reject) => {
    c.subsys('sftp', (err: Error | undefined, stream: ClientChannel) => {
      if (err) return reject(err)
      const timer = setTimeout(() => resolve(false), 5000)
      stream.on('close', () => {
        clearTimeout(timer)
        resolve(true)
      })
      stream.on('data', () => {})
      const header = Buffer.alloc(9)
      header.writeUInt32BE(0x7fff_ffff, 0) // claims a 2 GiB packet
      header[4] = 1 // SSH_FXP_INIT
      header.writeUInt32BE(3, 5)
      stream.write(header)
    })
  })
  c.end()
  assert.equal(closed, true, 'the server closed the channel')
  const again = await login(f.port)
  const entries = await new Promise<number>((resolve, reject) => {
    again.sftp((err, sftp) => (err ? reject(err) : sftp.readdir('/', (e, list) => (e ? reject(e) : resolve(list.length)))))
  })
  again.end()
  assert.ok(entries >= 0, 'a new session works')
})

test('sftp hardening: open handles per session are capped', {skip: missingTools('ssh-keygen')}, async (t) => {
  const f = await startFixture(t)
  const c = await login(f.port)
  t.after(() => c.end())
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))))
  let opened = 0
  let refused: Error | undefined
  for (let i = 0; i < 400 && !refused; i++) {
    try {
      await new Promise<Buffer>((resolve, reject) => sftp.opendir('/', (err, h) => (err ? reject(err) : resolve(h))))
      opened += 1
    } catch (error) {
      refused = error as Error
    }
  }
  assert.ok(refused, `refused after ${opened} handles`)
  assert.ok(opened >= 64 && opened <= 1024, `cap ${opened}`)
})
