// The web site's cluster side: exec actions on the admin endpoint (revoke a user's sessions, rotate the
// signing keys, per-node status), the primary generating the key set when it has none, and a secondary
// forwarding a logout to its primary (configuration changes are made there, then pushed to every node).
import type {ClusterConfig} from '../../config/schema.js'
import {connectAsMember} from '../../cluster/member-client.js'
import {OperationError, formatHostPort, type WebStatusResult, type WebNodeStatus, type WebRotateResult} from '../../protocol/index.js'
import type {NodeRuntime} from '../node-runtime.js'
import {ensureKeys, rotateKeys} from './signing-keys.js'
import type {WebNodeState} from './web-service.js'

/** This node's web site as `cluster web status` sees it: the service itself, or its front door with workers. */
export interface WebStateSource {
  nodeState(): WebNodeState | Promise<WebNodeState>
}

function canChange(runtime: NodeRuntime): void {
  if (runtime.role() === 'secondary') throw runtime.notPrimaryError()
}

async function bumpEpoch(runtime: NodeRuntime, user: string, by: string, from: string): Promise<number> {
  const next = await runtime.store.change((c) => {
    c.sites.web.sessionEpochs[user] = (c.sites.web.sessionEpochs[user] ?? 0) + 1
  }, {by, from, summary: `web sessions of ${user} revoked`})
  return next.sites.web.sessionEpochs[user]
}

/** Revokes a user's sessions cluster-wide: on the primary directly, on a secondary through the primary. */
export function sessionRevoker(runtime: NodeRuntime): (user: string) => Promise<void> {
  return async (user) => {
    if (runtime.role() !== 'secondary') {
      await bumpEpoch(runtime, user, 'web-logout', runtime.settings.bind)
      return
    }
    const p = runtime.config.primary!
    const client = await connectAsMember(runtime.identity.clusterPrivateKey, runtime.settings.bind, p, 3000)
    try {
      await client.exec('web-revoke', {user})
    } finally {
      client.close()
    }
  }
}

export function registerWebExec(runtime: NodeRuntime, web: WebStateSource): void {
  runtime.exec.set('web-revoke', async (args, ctx) => {
    canChange(runtime)
    const user = args.user
    if (typeof user !== 'string' || user === '') throw new OperationError('invalid', '"user" must name a user')
    const epoch = await bumpEpoch(runtime, user, ctx.actor.user, ctx.actor.address)
    return {user, epoch}
  })
  runtime.exec.set('web-rotate-keys', async (_args, ctx): Promise<WebRotateResult> => {
    if (ctx.actor.kind !== 'admin') throw new OperationError('refused', 'rotating the web signing keys needs an admin user')
    canChange(runtime)
    const next = await runtime.store.change((c) => {
      c.serviceIdentity.webSigningKeys = rotateKeys(c.serviceIdentity.webSigningKeys)
    }, {by: ctx.actor.user, from: ctx.actor.address, summary: 'web signing keys rotated'})
    const set = next.serviceIdentity.webSigningKeys
    return {currentKeyId: set.currentKeyId, keyIds: set.keys.map((k) => k.id), revision: next.revision}
  })
  runtime.exec.set('web-node', async (): Promise<WebNodeStatus> => ({nodeId: runtime.settings.nodeId, host: runtime.settings.bind, role: runtime.role(), ...(await web.nodeState()), error: null}))
  runtime.exec.set('web-status', async (_args, ctx): Promise<WebStatusResult> => {
    if (ctx.actor.kind !== 'admin') throw new OperationError('refused', 'web status needs an admin user')
    const c = runtime.config
    const mine: WebNodeStatus = {nodeId: runtime.settings.nodeId, host: runtime.settings.bind, role: runtime.role(), ...(await web.nodeState()), error: null}
    const others = runtime.role() === 'primary' ? c.servers.filter((s) => s.nodeId !== runtime.settings.nodeId) : []
    const nodes = await Promise.all(others.map(async (s): Promise<WebNodeStatus> => {
      let client
      try {
        client = await connectAsMember(runtime.identity.clusterPrivateKey, runtime.settings.bind, s, 3000)
        return await client.exec<WebNodeStatus>('web-node', {})
      } catch (error) {
        return {nodeId: s.nodeId, host: s.host, role: 'secondary', state: 'down', httpsPort: null, httpPort: null, sessions: 0, keyId: '', error: `${formatHostPort(s.host, s.port)}: ${(error as Error).message}`}
      } finally {
        client?.close()
      }
    }))
    return {currentKeyId: c.serviceIdentity.webSigningKeys.currentKeyId, nodes: [mine, ...nodes]}
  })
}

/** The primary (or a standalone node) creates the key set when the configuration has none (older documents). */
export function ensureSigningKeys(runtime: NodeRuntime): void {
  const check = (c: ClusterConfig) => {
    if (runtime.role(c) === 'secondary') return
    const fresh = ensureKeys(c.serviceIdentity.webSigningKeys)
    if (!fresh) return
    void runtime.store.change((d) => {
      if (d.serviceIdentity.webSigningKeys.keys.length === 0) d.serviceIdentity.webSigningKeys = fresh
    }, {by: 'web', from: 'local', summary: 'web signing keys created'}).catch((error: Error) => runtime.log.error('cannot create the web signing keys', {error: error.message}))
  }
  check(runtime.config)
  runtime.store.on('change', (c: ClusterConfig) => check(c))
}
