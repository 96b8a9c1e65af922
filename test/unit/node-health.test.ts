import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {toNodeHealth} from '../../src/cli/node-health.js'

const node = {host: '10.0.0.3', port: 14983, role: 'secondary'}
const at = '10.0.0.3:14980'

describe('node-health toNodeHealth', () => {
  it('a 200 with status ok is healthy, with revision and services', () => {
    const h = toNodeHealth(node, {statusCode: 200, body: JSON.stringify({status: 'ok', revision: 7, services: {admin: 'up', sftp: 'up'}, problems: []})}, at)
    assert.deepEqual(h, {host: '10.0.0.3', port: 14983, role: 'secondary', healthy: true, revision: 7, services: {admin: 'up', sftp: 'up'}, error: null})
  })

  it('a 503 is unhealthy and its problems are the error', () => {
    const h = toNodeHealth(node, {statusCode: 503, body: JSON.stringify({status: 'unavailable', revision: 7, services: {ftp: 'down'}, problems: ['draining: not taking new sessions', 'ftp is down']})}, at)
    assert.equal(h.healthy, false)
    assert.equal(h.error, 'draining: not taking new sessions; ftp is down')
  })

  it('a refused connection names the endpoint', () => {
    const h = toNodeHealth(node, {errorCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED'}, at)
    assert.equal(h.healthy, false)
    assert.match(h.error!, /nothing is listening on 10\.0\.0\.3:14980/)
    assert.equal(h.revision, null)
  })

  it('a timeout and a non-JSON answer are errors', () => {
    assert.match(toNodeHealth(node, {errorCode: 'ETIMEDOUT', message: 'timeout'}, at, 3000).error!, /within 3 s/)
    assert.match(toNodeHealth(node, {statusCode: 200, body: '<html>'}, at).error!, /without a health document/)
  })
})
