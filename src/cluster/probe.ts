// The `probe` exec: the checks of `cluster diagnose` run from this node, to see what the primary sees when it
// cannot reach a secondary (from its own address, with its cluster key, against the fingerprint it registered).
import {VERSION, type NodeRuntime} from '../daemon/node-runtime.js'
import {runDiagnostics, type ProbeResult} from '../protocol/diagnose.js'
import {CLUSTER_SSH_USER, DEFAULT_ADMIN_PORT, OperationError} from '../protocol/index.js'

/** Unspecified bind addresses let the kernel choose the source address. */
const WILDCARDS = new Set(['0.0.0.0', '::'])

function target(args: Record<string, unknown>): {host: string; port: number; timeoutMs: number} {
  const {host, port = DEFAULT_ADMIN_PORT, timeoutMs = 10_000} = args
  if (typeof host !== 'string' || host === '') throw new OperationError('invalid', '"host" is missing or not a string')
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new OperationError('invalid', '"port" must be 1-65535')
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 100 && timeoutMs <= 60_000)) throw new OperationError('invalid', '"timeoutMs" must be 100-60000')
  return {host, port, timeoutMs}
}

export function registerProbe(runtime: NodeRuntime): void {
  runtime.exec.set('probe', async (args, ctx): Promise<ProbeResult> => {
    if (ctx.actor.kind !== 'admin') throw new OperationError('refused', 'probe needs an admin user')
    const {host, port, timeoutMs} = target(args)
    const bind = runtime.settings.bind
    const config = runtime.config
    const registered = config.servers.find((s) => s.host === host && s.port === port)
      ?? (config.primary?.host === host && config.primary.port === port ? config.primary : undefined)
    // A candidate (not registered yet): check what add-server will do — its admin user and password.
    const candidate = !registered && typeof args.username === 'string' && args.username !== '' && typeof args.password === 'string'
    const at = `${host}:${port}`
    const checks = await runDiagnostics({
      host,
      port,
      timeoutMs,
      version: VERSION,
      localAddress: WILDCARDS.has(bind) ? undefined : bind,
      credentials: candidate ? {username: args.username as string, password: args.password as string} : {username: CLUSTER_SSH_USER, privateKey: runtime.identity.clusterPrivateKey},
      expectedFingerprint: registered?.fingerprint,
      filterFix: registered ? 'primary' : 'node',
      authHint: candidate
        ? `${at} refused admin user "${args.username as string}": give add-server and diagnose the right one: \`CLUSTER_SECONDARY_PASSWORD=… cluster diagnose ${at} --from-primary --secondary-user ${args.username as string}\`, or set it on ${at} with \`cluster admins passwd ${args.username as string} --primary ${at}\``
        : registered ? undefined : `${at} is not registered, so it does not know the primary's cluster key: give the candidate's admin password (CLUSTER_SECONDARY_PASSWORD or --secondary-password) to check what \`cluster add-server ${at}\` will do`,
      hostKeyHint: () => 'if the node was re-initialised, register it again: `cluster remove-server` then `cluster add-server`; otherwise someone may be intercepting the connection',
    })
    return {from: WILDCARDS.has(bind) ? runtime.settings.externalAddress ?? bind : bind, checks}
  })
}
