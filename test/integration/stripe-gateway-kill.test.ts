// kill -9 of the striped gateway right after 1,000 acknowledged small STORs (issue #7): after the restart the
// catalogue has all 1,000 entries and each downloads intact. Real processes on 127.0.76.2-5, curl as the client
// (four control connections of 250 uploads each). STRIPE_KILL_FILES changes the count locally.
import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {killAll, run} from '../helpers/ftp-fixture.js'
import {tempDir} from '../helpers/node-process.js'
import {startStripeCluster, type StripeCluster} from '../helpers/stripe-cluster.js'
import {needs} from '../helpers/tools.js'

const G = '127.0.76.2'
const NODES = ['127.0.76.3', '127.0.76.4', '127.0.76.5']
const COUNT = Number(process.env.STRIPE_KILL_FILES ?? 1000)
/** Four clients at once, each its own control connection and its own quarter of the files. */
const CLIENTS = 4
const slices = (): [number, number][] => Array.from({length: CLIENTS}, (_, i) => [Math.floor((i * COUNT) / CLIENTS) + 1, Math.floor(((i + 1) * COUNT) / CLIENTS)])

describe('stripe gateway kill -9', {skip: needs('curl')}, () => {
  const root = tempDir('ftpcluster-stripe-kill-')
  const local = path.join(root, 'local')
  let cluster: StripeCluster

  before(async () => {
    mkdirSync(path.join(local, 'up'), {recursive: true})
    mkdirSync(path.join(local, 'back'), {recursive: true})
    cluster = await startStripeCluster(root, G, NODES)
  })
  after(async () => {
    killAll()
    await cluster?.stop()
  })

  it(`stripe gateway: kill -9 right after ${COUNT} acknowledged STORs, then ${COUNT} entries after restart, each readable`, async () => {
    for (let i = 1; i <= COUNT; i++) writeFileSync(path.join(local, 'up', `s${i}.txt`), `small file ${i}\n`)
    const ups = await Promise.all(slices().map(([a, b]) => run('curl', ['-sS', '--fail', '--ftp-create-dirs', '-T', path.join(local, 'up', `s[${a}-${b}].txt`), cluster.url('/many/')], 240_000)))
    for (const up of ups) assert.equal(up.code, 0, up.stderr)
    // curl has seen every 226: each of those uploads was acknowledged, so none may be lost
    cluster.gateway.kill()
    await cluster.gateway.start()
    await cluster.ready(30_000)
    const list = await run('curl', ['-sS', '--fail', '--list-only', cluster.url('/many/')])
    assert.equal(list.code, 0, list.stderr)
    assert.equal(new Set(list.stdout.trim().split(/\r?\n/)).size, COUNT)
    const downs = await Promise.all(slices().map(([a, b]) => run('curl', ['-sS', '--fail', '-o', path.join(local, 'back', 's#1.txt'), cluster.url(`/many/s[${a}-${b}].txt`)], 240_000)))
    for (const down of downs) assert.equal(down.code, 0, down.stderr)
    for (let i = 1; i <= COUNT; i++) assert.equal(readFileSync(path.join(local, 'back', `s${i}.txt`), 'utf8'), `small file ${i}\n`)
  })
})
