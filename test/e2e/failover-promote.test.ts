// Failover on real node processes built with the CLI: a stale primary and two promotes at once (reproductions 1 and 2 of #8).
// Addresses: 127.0.60.0/24 only.
import assert from 'node:assert/strict'
import {after, describe, it} from 'node:test'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import type {ClusterConfig} from '../../src/config/schema.js'
import {buildCluster, converged, jsonError, statusOf, states, type TestCluster} from '../helpers/cluster.js'
import {pollUntil, tempDir} from '../helpers/node-process.js'

const N = '127.0.60.'

describe('failover: a stale primary never acknowledges a change that is later thrown away (1)', () => {
  const ips = [`${N}2`, `${N}3`, `${N}4`]
  const [A, B, C] = ips
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('restarted alone after a promote, the old primary refuses: it cannot confirm that it is still the primary', async () => {
    cl = await buildCluster(tempDir(), ips)
    await cl.nodes[A].stop()
    const promoted = await cl.cli(['promote', B, '--yes', '--json'])
    assert.equal(promoted.code, 0, promoted.stderr + promoted.stdout)
    await pollUntil(async () => (await statusOf(C)).epoch === 2, 'C at epoch 2', 10_000, 50)
    await Promise.all([cl.nodes[B].stop(), cl.nodes[C].stop()])
    await cl.nodes[A].start()
    const r = await cl.cli(['users', 'add', 'lost-user', '--password', 'pw-lost-1-longer', '--primary', A])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stderr, /cannot confirm that this node is still the primary: .*unreachable; see `cluster diagnose`/)
    assert.match(r.stderr, /nothing was applied/)
    assert.equal((await statusOf(A)).revision, (await statusOf(A)).revision)
  })

  it('with the new primary away but a member at the new epoch, it refuses too, and is demoted without losing anything', async () => {
    await cl.nodes[C].start()
    const r = await cl.cli(['users', 'add', 'lost-user-2', '--password', 'pw-lost-2-longer', '--primary', A, '--json'])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(jsonError(r.stdout).message, /no longer the primary|cannot confirm/)
    await cl.nodes[B].start()
    await pollUntil(async () => {
      const s = await statusOf(A)
      return s.role === 'secondary' && s.epoch === 2
    }, 'A demoted to a secondary of epoch 2', 20_000, 100)
    const ok = await cl.cli(['users', 'add', 'kept-user', '--password', 'pw-kept-1-longer', '--primary', B, '--json'])
    assert.equal(ok.code, 0, ok.stderr + ok.stdout)
    const all = await pollUntil(async () => {
      const s = await states(ips)
      return converged(s) ? s : undefined
    }, 'all nodes at the same epoch, revision and hash', 15_000, 100)
    assert.equal(all.find((s) => s.role === 'primary')!.bind, B)
    const users = (JSON.parse(readFileSync(path.join(cl.nodes[A].dir, 'config', 'current.json'), 'utf8')) as ClusterConfig).users.map((u) => u.name)
    assert.deepEqual(users, ['kept-user'], 'the refused changes were applied nowhere')
  })
})

describe('failover: two promotes at once (2)', () => {
  const ips = [`${N}10`, `${N}11`, `${N}12`]
  const [A, B, C] = ips
  let cl: TestCluster
  after(async () => cl?.stopAll())

  it('exactly one wins, the other exits 1 naming the winner, and the cluster converges with the old primary back', async () => {
    cl = await buildCluster(tempDir(), ips)
    await cl.nodes[A].stop()
    const [rb, rc] = await Promise.all([cl.cli(['promote', B, '--yes', '--json']), cl.cli(['promote', C, '--yes', '--json'])])
    const codes = [rb.code, rc.code].sort()
    assert.deepEqual(codes, [0, 1], `B: ${rb.code} ${rb.stdout}${rb.stderr}\nC: ${rc.code} ${rc.stdout}${rc.stderr}`)
    const [winner, loser] = rb.code === 0 ? [B, rc] : [C, rb]
    const e = jsonError(loser.stdout)
    assert.match(e.message, new RegExp(`${winner.replace(/\./g, '\\.')}:14983`), `the loser names the winner: ${e.message}`)
    await cl.nodes[A].start()
    const all = await pollUntil(async () => {
      const s = await states(ips)
      return converged(s) ? s : undefined
    }, 'one primary, same epoch, revision and hash everywhere', 20_000, 100)
    assert.equal(all.find((s) => s.role === 'primary')!.bind, winner)
    const w = await cl.cli(['users', 'add', 'after-promote', '--password', 'pw-after-1-long', '--primary', winner])
    assert.equal(w.code, 0, w.stderr)
  })
})
