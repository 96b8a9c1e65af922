// A real node daemon with a file user, for the attack tests: storage outside the data directory, the user
// added through the admin endpoint, and the Debian python3 (which has paramiko) for the attack scripts.
import {spawn, spawnSync} from 'node:child_process'
import path from 'node:path'
import {hashPassword} from '../../src/config/password.js'
import type {ClusterConfig} from '../../src/config/schema.js'
import {AdminClient} from '../../src/protocol/admin-client.js'
import {PATHS} from '../../src/protocol/index.js'
import {ADMIN_PASSWORD, createNode, type TestNode} from './node-process.js'
import {ROOT} from './paths.js'

export const PY = '/usr/bin/python3'
export const ATTACK = path.join(ROOT, 'test', 'helpers', 'attack')
export const USER_PASSWORD = 'alice-password'

/** A skip message when Debian's python3 with paramiko is missing, else false. */
export function needsParamiko(): string | false {
  const ok = spawnSync(PY, ['-c', 'import paramiko']).status === 0
  if (ok) return false
  const message = 'skipped: /usr/bin/python3 with paramiko not installed (apt-get install python3-paramiko; .ci/run installs it)'
  process.stderr.write(`NOTICE ${message}\n`)
  return message
}

/** Starts a node on `bind` serving `storage`, with user alice (all permissions, home /alice). */
export async function startNodeWithUser(root: string, bind: string, storage: string, edit: (c: ClusterConfig) => void = () => {}, initArgs: string[] = []): Promise<TestNode> {
  const node = await createNode(root, bind, ['--storage', storage, ...initArgs])
  await node.start()
  const c = await AdminClient.connect({host: bind, port: 14983, credentials: {username: 'admin', password: ADMIN_PASSWORD}, checkHostKey: () => {}})
  try {
    const config = await c.readJson<ClusterConfig>(PATHS.config)
    config.users.push({name: 'alice', passwordHash: await hashPassword(USER_PASSWORD), publicKeys: [], home: '/alice', permissions: ['list', 'download', 'upload', 'overwrite', 'delete', 'mkdir', 'rename', 'chmod'], disabled: false})
    edit(config)
    await c.writeFile(PATHS.config, JSON.stringify({...config, baseRevision: config.revision}))
  } finally {
    c.close()
  }
  return node
}

const children = new Set<number>()
process.once('exit', () => {
  for (const pid of children) try { process.kill(pid, 'SIGKILL') } catch {}
})

/** Runs a python attack script to completion; killed by PID at `timeoutMs`. */
export function runPy(script: string, args: string[], timeoutMs: number): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn(PY, [path.join(ATTACK, script), ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    if (child.pid) children.add(child.pid)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (child.pid) children.delete(child.pid)
      resolve({code, stdout, stderr})
    })
  })
}
