// `cluster node init|start` as real processes: clear errors for bad starts, durability under SIGKILL, the
// CLI's host-key pinning. Addresses: 127.0.2.0/24 only.
import assert from 'node:assert/strict'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {ConfigStore, readConfigFile} from '../../src/config/store.js'
import {PATHS} from '../../src/protocol/index.js'
import {spawn} from 'node:child_process'
import {runCli} from '../helpers/cli.js'
import {CLI} from '../helpers/paths.js'
import {needs} from '../helpers/tools.js'
import {ADMIN_PASSWORD, createNode, pollUntil, tempDir, type TestNode} from '../helpers/node-process.js'

const nodes: TestNode[] = []
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
})

async function node(root: string, bind: string, extra: string[] = []): Promise<TestNode> {
  const n = await createNode(root, bind, extra)
  nodes.push(n)
  return n
}

describe('cluster node start: errors', () => {
  const root = tempDir()

  it('a missing or uninitialised directory exits 1 and says how to create it', async () => {
    const missing = await runCli(['node', 'start', path.join(root, 'nope')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /does not exist/)
    assert.match(missing.stderr, /cluster node init/)
    const empty = await runCli(['node', 'start', root])
    assert.equal(empty.code, 2)
    assert.match(empty.stderr, /not an initialised node/)
  })

  it('a port in use names the address and the port', async () => {
    const a = await node(root, '127.0.2.2')
    await a.start()
    const twin = await node(path.join(root, 'twin'), '127.0.2.2')
    const r = await runCli(['node', 'start', twin.dir])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /cannot start the admin endpoint on 127\.0\.2\.2:14983: the port is already in use/)
    await a.stop()
  })

  it('an address that is not bindable says so', async () => {
    const n = await node(root, '192.0.2.77')
    const r = await runCli(['node', 'start', n.dir])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /the address 192\.0\.2\.77 is not an address of this machine/)
  })

  it('a corrupt configuration names the file and the problem, and is not overwritten', async () => {
    const n = await node(root, '127.0.2.3')
    const file = path.join(n.dir, 'config', 'current.json')
    writeFileSync(file, '{"schemaVersion": 1, "revision": ')
    const r = await runCli(['node', 'start', n.dir])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /current\.json: is not valid JSON/)
    assert.equal(readFileSync(file, 'utf8'), '{"schemaVersion": 1, "revision": ')
    const nodeJson = path.join(n.dir, 'node.json')
    writeFileSync(nodeJson, JSON.stringify({nodeId: 'x', bind: 'nowhere', storage: '/tmp', healthPort: 1}))
    const r2 = await runCli(['node', 'start', n.dir])
    assert.match(r2.stderr, /node\.json: invalid field bind: expected an IP address/)
  })

  it('init refuses an already initialised directory and a missing password without a TTY', async () => {
    const n = await node(root, '127.0.2.4')
    const again = await runCli(['node', 'init', n.dir, '--bind', '127.0.2.4'], {env: {CLUSTER_ADMIN_PASSWORD: ADMIN_PASSWORD}})
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already initialised/)
    const nopw = await runCli(['node', 'init', path.join(root, 'fresh'), '--bind', '127.0.2.4'], {env: {CLUSTER_ADMIN_PASSWORD: undefined}})
    assert.equal(nopw.code, 2)
    assert.match(nopw.stderr, /--admin-password/)
  })

  it('on a terminal, init prompts for the admin password (and the node then accepts it)', {skip: needs('script')}, async () => {
    const dir = path.join(root, 'tty')
    const env = {...process.env, NO_COLOR: '1'}
    delete (env as Record<string, unknown>).CI
    delete (env as Record<string, unknown>).CLUSTER_ADMIN_PASSWORD
    // `script` gives the CLI a pseudo-terminal; the password is typed once the prompt is shown.
    const child = spawn('script', ['-q', '-c', `${process.execPath} ${CLI} node init ${dir} --bind 127.0.2.30`, '/dev/null'], {env, stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    await pollUntil(() => out.includes('Password for admin user'), 'the password prompt', 10_000, 50)
    child.stdin.write('typed-at-a-tty\r')
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    child.stdin.end()
    assert.equal(code, 0, out)
    assert.match(out, /Initialised node/)
    const config = JSON.parse(readFileSync(path.join(dir, 'config', 'current.json'), 'utf8'))
    const {verifyPassword} = await import('../../src/config/password.js')
    assert.equal(await verifyPassword('typed-at-a-tty', config.adminUsers[0].passwordHash), true)
  })

  it('a node-local PASV range (init --pasv-ports) is what FTP advertises', {skip: needs('curl')}, async () => {
    const n = await node(root, '127.0.2.31', ['--pasv-ports', '50210-50211'])
    await n.start()
    const c = await AdminClient.connect({host: n.bind, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
    const config = await c.readJson<Record<string, any>>(PATHS.config)
    const {hashPassword} = await import('../../src/config/password.js')
    config.users.push({name: 'pat', passwordHash: await hashPassword('pat-password'), publicKeys: [], home: '/pat', permissions: ['list'], disabled: false})
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
    c.close()
    const {spawnSync} = await import('node:child_process')
    const r = spawnSync('curl', ['-sS', '-v', '--disable-epsv', '-u', 'pat:pat-password', `ftp://${n.bind}:2121/`], {encoding: 'utf8', timeout: 20_000})
    assert.equal(r.status, 0, r.stderr)
    const m = /227 Entering Passive Mode \((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(r.stderr)
    assert.ok(m, r.stderr)
    const port = Number(m[5]) * 256 + Number(m[6])
    assert.ok(port >= 50210 && port <= 50211, `PASV port ${port} in the node's range`)
    assert.equal(m.slice(1, 5).join('.'), n.bind)
    await n.stop()
  })

  it('SIGTERM stops the node gracefully, also with idle FTP, SFTP and admin sessions open', async () => {
    const n = await node(root, '127.0.2.5')
    await n.start()
    const sockets = await Promise.all([2121, 2222, 14983].map((port) => new Promise<net.Socket>((resolve) => {
      const s = net.connect({host: '127.0.2.5', port})
      s.once('data', () => resolve(s))
      s.on('error', () => {})
    })))
    const t0 = Date.now()
    const exited = new Promise<number | null>((resolve) => n.process!.once('exit', (code) => resolve(code)))
    n.process!.kill('SIGTERM')
    assert.equal(await exited, 0)
    assert.ok(Date.now() - t0 < 8000, `stopped within the 5 s session deadline (${Date.now() - t0} ms)`)
    for (const s of sockets) s.destroy()
    assert.match(n.log, /received SIGTERM/)
    assert.match(n.log, /stopped/)
  })
})

/** Runs `write` (one change per call, false to stop) until a SIGKILL of the node after `ms`, then waits for its exit. */
/**
 * Writes in a loop and kills the node `ms` after the first write was answered (so every round has writes to
 * lose, however slow the machine: the kill lands during a later one), or after 30 s if none was.
 */
async function killDuringWrites(n: TestNode, client: AdminClient, ms: number, write: () => Promise<void>): Promise<void> {
  let stop = false
  let firstAnswered = () => {}
  const first = new Promise<void>((r) => (firstAnswered = r))
  const burst = (async () => {
    for (let i = 0; i < 1000 && !stop; i++) {
      try {
        await write()
      } catch {
        break // the connection died with the node
      } finally {
        firstAnswered()
      }
    }
  })()
  let timer: NodeJS.Timeout | undefined
  await Promise.race([first, new Promise((r) => (timer = setTimeout(r, 30_000)))])
  clearTimeout(timer)
  await new Promise((r) => setTimeout(r, ms))
  n.kill()
  stop = true
  await burst
  client.close()
  const p = n.process!
  if (p.exitCode === null && p.signalCode === null) await new Promise((r) => p.once('exit', r))
}

describe('configuration durability', () => {
  it('SIGKILL during a burst of configuration writes never leaves an unreadable configuration (50 times)', async () => {
    const root = tempDir()
    const n = await node(root, '127.0.2.10')
    let acknowledged = 1
    for (let round = 0; round < 50; round++) {
      await n.start()
      const client = await AdminClient.connect({host: n.bind, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
      const config = await client.readJson<Record<string, any>>(PATHS.config)
      assert.ok(config.revision === acknowledged || config.revision === acknowledged + 1, `round ${round}: served revision ${config.revision}, last acknowledged ${acknowledged}`)
      acknowledged = config.revision
      let base = config.revision
      await killDuringWrites(n, client, 5 + Math.floor(Math.random() * 60), async () => {
        config.sync.intervalSeconds = 10 + (base % 1000)
        await client.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: base}))
        base += 1
        acknowledged = base
      })
      const onDisk = await readConfigFile(path.join(n.dir, 'config', 'current.json'))
      assert.ok(onDisk.revision === acknowledged || onDisk.revision === acknowledged + 1, `round ${round}: on disk ${onDisk.revision}, acknowledged ${acknowledged}`)
      acknowledged = onDisk.revision
    }
    assert.ok(acknowledged > 50, `writes happened (${acknowledged} revisions)`)
  })

  it('SIGKILL during a burst of journaled changes (users-edit) never loses an acknowledged one (20 times)', async () => {
    // Every document journaled, as a directory of many users is: each change is a patch line, not a rewrite.
    process.env.CLUSTER_CONFIG_JOURNAL_MIN_BYTES = '0'
    try {
      const root = tempDir()
      const n = await node(root, '127.0.2.11')
      const hash = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$' + 'A'.repeat(43) + '='
      let acknowledged = 1
      let k = 0
      let journaled = 0
      for (let round = 0; round < 20; round++) {
        await n.start()
        const client = await AdminClient.connect({host: n.bind, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
        const served = (await client.readJson<{revision: number}>(PATHS.config)).revision
        assert.ok(served === acknowledged || served === acknowledged + 1, `round ${round}: served revision ${served}, last acknowledged ${acknowledged}`)
        acknowledged = served
        await killDuringWrites(n, client, 20 + Math.floor(Math.random() * 80), async () => {
          acknowledged = (await client.exec<{revision: number}>('users-edit', {action: 'add', name: `u${k++}`, passwordHash: hash, publicKeys: []})).revision
        })
        // (no journal yet when the kill came before the first journaled change: the first one is a snapshot)
        const journal = path.join(n.dir, 'config', 'journal.log')
        journaled = Math.max(journaled, existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').filter(Boolean).length : 0)
        const onDisk = await ConfigStore.readOnDisk(n.dir)
        assert.ok(onDisk.revision === acknowledged || onDisk.revision === acknowledged + 1, `round ${round}: on disk ${onDisk.revision}, acknowledged ${acknowledged}`)
        assert.equal(onDisk.users.length, onDisk.revision - 1, 'one user per revision since the first')
        acknowledged = onDisk.revision
      }
      assert.ok(acknowledged > 20, `writes were acknowledged in every round (${acknowledged} revisions)`)
      assert.ok(journaled > 0, 'the changes went to the journal')
    } finally {
      delete process.env.CLUSTER_CONFIG_JOURNAL_MIN_BYTES
    }
  })
})

describe('host key pinning in the CLI', () => {
  it('trusts on first use, then refuses a changed key showing both fingerprints', async () => {
    const root = tempDir()
    const cliDir = path.join(root, 'cli')
    const env = {CLUSTER_PASSWORD: ADMIN_PASSWORD, CLUSTER_CONFIG_DIR: cliDir}
    const first = await node(root, '127.0.2.20')
    await first.start()
    const ok = await runCli(['node', 'status', '127.0.2.20', '--json'], {env})
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stderr, new RegExp(`Trusting 127\\.0\\.2\\.20:14983 on first use: host key ${first.fingerprint.replace(/[+/]/g, '\\$&')}`))
    await first.stop()
    const second = await node(path.join(root, 'again'), '127.0.2.20')
    await second.start()
    const refused = await runCli(['node', 'status', '127.0.2.20'], {env})
    assert.equal(refused.code, 1)
    assert.ok(refused.stderr.includes(`stored ${first.fingerprint}`), refused.stderr)
    assert.ok(refused.stderr.includes(`presented ${second.fingerprint}`), refused.stderr)
    assert.ok(refused.stderr.includes(`--host-key ${second.fingerprint}`), 'says how to accept the new key')
    const accepted = await runCli(['node', 'status', '127.0.2.20', '--host-key', second.fingerprint, '--json'], {env})
    assert.equal(accepted.code, 0, accepted.stderr)
    const pinned = await runCli(['node', 'status', '127.0.2.20', '--json'], {env})
    assert.equal(pinned.code, 0, 'the accepted key is pinned from now on')
    const wrong = await runCli(['node', 'status', '127.0.2.20', '--host-key', first.fingerprint], {env})
    assert.equal(wrong.code, 1)
    assert.match(wrong.stderr, /not the expected/)
  })
})
