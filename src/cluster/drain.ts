// The `drain` exec: maintenance mode of one node. While draining, the file services refuse new sessions,
// sessions and transfers in progress go on, and /healthz answers 503 so the load balancer moves traffic away.
// It lasts until undone or until the node restarts (a restarted node serves again).
import type {NodeRuntime} from '../daemon/node-runtime.js'
import {OperationError, type DrainResult} from '../protocol/index.js'

export function registerDrain(runtime: NodeRuntime): void {
  runtime.exec.set('drain', async (args, ctx): Promise<DrainResult> => {
    if (ctx.actor.kind !== 'admin') throw new OperationError('refused', 'drain needs an admin user')
    const {enable = true} = args ?? {}
    if (typeof enable !== 'boolean') throw new OperationError('invalid', '"enable" must be true or false')
    const changed = runtime.draining !== enable
    runtime.draining = enable
    if (changed) runtime.log.info(enable ? 'draining: refusing new sessions' : 'drain undone: accepting new sessions', {by: ctx.actor.user, from: ctx.actor.address})
    return {nodeId: runtime.settings.nodeId, draining: enable, changed}
  })
}
