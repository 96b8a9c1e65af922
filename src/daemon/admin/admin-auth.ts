// Authentication on the admin endpoint: admin users (password or public key) and the primary's cluster key
// (user `cluster`). Failed attempts are delayed, scored by the defender and capped per connection.
import type {AuthContext, AuthenticationType} from 'ssh2'
import ssh2 from 'ssh2'
import {verifyPassword} from '../../config/password.js'
import type {ClusterConfig} from '../../config/schema.js'
import type {Defender} from '../../net/defender.js'
import {CLUSTER_SSH_USER} from '../../protocol/index.js'
import type {Actor} from '../node-runtime.js'

const {utils} = ssh2

/** True when `line` (an OpenSSH public key line) is the key the client offered. */
export function keyMatches(line: string, algo: string, data: Buffer): boolean {
  const parsed = utils.parseKey(line)
  if (parsed instanceof Error) return false
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  return key.type === algo && key.getPublicSSH().equals(data)
}

function verifySignature(line: string, blob: Buffer, signature: Buffer, hashAlgo: string | undefined): boolean {
  const parsed = utils.parseKey(line)
  if (parsed instanceof Error) return false
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  return key.verify(blob, signature, hashAlgo as never) === true
}

export interface AuthOutcome {
  actor?: Actor
  /** The connection must be closed (too many tries, or the address got banned). */
  disconnect?: boolean
}

/** Tracks one connection's attempts; `handle` answers one ssh2 authentication request. */
export class AdminAuthenticator {
  private failures = 0
  /** Set just before a final accept, so the `ready` handler sees who logged in. */
  actor: Actor | undefined

  constructor(
    private readonly config: () => ClusterConfig,
    private readonly defender: Defender,
    private readonly address: string,
    private readonly maxTries: () => number,
  ) {}

  async handle(ctx: AuthContext): Promise<AuthOutcome> {
    const methods: AuthenticationType[] = ['publickey', 'password']
    const config = this.config()
    if (ctx.method === 'none') {
      ctx.reject(methods)
      return {}
    }
    // Only a member's address gets this far while banned (the gate let it through for its cluster key).
    if (ctx.username !== CLUSTER_SSH_USER && this.defender.isBanned(this.address)) {
      ctx.reject(methods)
      return {disconnect: true}
    }
    if (ctx.username === CLUSTER_SSH_USER) {
      // Any member's cluster key authenticates; epochs and revisions decide what it may change.
      const members = [config.primary?.clusterPublicKey, ...config.servers.map((s) => s.clusterPublicKey)].filter((k): k is string => Boolean(k))
      const clusterKey = ctx.method === 'publickey' ? members.find((k) => keyMatches(k, ctx.key.algo, ctx.key.data)) : undefined
      if (ctx.method === 'publickey' && clusterKey) {
        if (!ctx.signature) {
          ctx.accept() // the key is acceptable; the client signs next
          return {}
        }
        if (ctx.blob && verifySignature(clusterKey, ctx.blob, ctx.signature, ctx.hashAlgo)) {
          return this.accept(ctx, {user: CLUSTER_SSH_USER, kind: 'cluster', address: this.address, key: clusterKey})
        }
      }
      return this.fail(ctx, methods, ctx.method === 'password')
    }
    const user = config.adminUsers.find((u) => u.name === ctx.username)
    if (ctx.method === 'password') {
      // Parallel guesses from one address: refused unchecked once those in flight would reach the ban.
      if (!(await this.defender.begin(this.address))) return this.fail(ctx, methods, false)
      let ok: boolean
      try {
        ok = await verifyPassword(ctx.password, user?.passwordHash ?? null)
      } finally {
        this.defender.end(this.address)
      }
      if (ok && user) {
        this.defender.recordSuccess(this.address)
        return this.accept(ctx, {user: user.name, kind: 'admin', address: this.address})
      }
      return this.fail(ctx, methods, true)
    }
    if (ctx.method === 'publickey') {
      const line = user?.publicKeys.find((k) => keyMatches(k, ctx.key.algo, ctx.key.data))
      if (user && line) {
        if (!ctx.signature) {
          ctx.accept()
          return {}
        }
        if (ctx.blob && verifySignature(line, ctx.blob, ctx.signature, ctx.hashAlgo)) {
          this.defender.recordSuccess(this.address)
          return this.accept(ctx, {user: user.name, kind: 'admin', address: this.address})
        }
      }
      // An offered key that is not authorised is normal (agents offer several): counted, not scored.
      return this.fail(ctx, methods, false)
    }
    return this.fail(ctx, methods, false)
  }

  private accept(ctx: AuthContext, actor: Actor): AuthOutcome {
    this.actor = actor
    ctx.accept()
    return {actor}
  }

  private async fail(ctx: AuthContext, methods: AuthenticationType[], scored: boolean): Promise<AuthOutcome> {
    this.failures += 1
    let banned = false
    if (scored) {
      banned = this.defender.recordFailure(this.address, undefined, 'admin')
      await new Promise((r) => setTimeout(r, this.defender.failDelayMs))
    }
    ctx.reject(methods)
    return {disconnect: banned || this.failures >= this.maxTries()}
  }
}
