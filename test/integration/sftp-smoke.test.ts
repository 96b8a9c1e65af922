import assert from 'node:assert/strict'
import {test} from 'node:test'
import {missingTools, startFixture} from '../helpers/sftp-fixture.js'

const skip = missingTools('sftp', 'ssh-keygen')

test('sftp smoke: OpenSSH sftp logs in with a key and lists the home', {skip}, async (t) => {
  const f = await startFixture(t)
  const r = await f.sftp('pwd\nls -la\ndf -h\n')
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /Remote working directory: \//)
})
