// The base of commands that talk to a node's admin endpoint: connection flags and environment variables of
// cli.md (--primary/CLUSTER_PRIMARY/context, --user/CLUSTER_USER, CLUSTER_PASSWORD/--password-stdin/key).
import {readFile} from 'node:fs/promises'
import {Command, Flags} from '@oclif/core'
import {OperationError, PATHS, formatHostPort, parseHostPort, type NodeStatus, type ServersDocument} from '../protocol/index.js'
import type {AdminClient} from '../protocol/admin-client.js'
import type {CommitReport} from '../protocol/index.js'
import {onCommitReport} from './config-edit.js'
import {BaseCommand, usageError} from './base-command.js'
import {Contexts, type Context} from './contexts.js'
import {KnownHosts} from './known-hosts.js'
import {Progress} from './ui/progress.js'
import {promptPassword, readStdin} from './ui/prompt.js'

/** `--follow` (default) / `--no-follow` of the read commands: follow a secondary to its primary, or exit 1. */
export const followFlag = Flags.boolean({description: 'when the address given is a secondary, ask its primary (--no-follow: exit 1 instead)', default: true, allowNo: true})

export abstract class ClusterCommand<T extends typeof Command> extends BaseCommand<T> {
  static override baseFlags = {
    ...BaseCommand.baseFlags,
    primary: Flags.string({
      char: 'p',
      description: 'primary admin endpoint HOST[:PORT] (default port 14983) [env: CLUSTER_PRIMARY]',
      helpGroup: 'GLOBAL',
      helpValue: 'HOST[:PORT]',
    }),
    user: Flags.string({char: 'u', description: 'admin user [env: CLUSTER_USER] (default: admin)', helpGroup: 'GLOBAL'}),
    'password-stdin': Flags.boolean({description: 'read the admin password from standard input (for scripts); or set CLUSTER_PASSWORD', helpGroup: 'GLOBAL', default: false}),
    'host-key': Flags.string({description: 'expected SHA256 fingerprint of the node\'s host key; pins it (accepts a changed key)', helpGroup: 'GLOBAL', helpValue: 'SHA256:…'}),
    timeout: Flags.integer({description: 'seconds to wait for a node to answer', helpGroup: 'GLOBAL', default: 10}),
    context: Flags.string({char: 'c', description: 'use this saved context for this command only (instead of the current one)', helpGroup: 'GLOBAL', helpValue: 'NAME'}),
  }

  private clients: AdminClient[] = []
  private password: string | undefined
  /** The primary's report on the change this command made, when it made one. */
  private commit: CommitReport | undefined

  public override async init(): Promise<void> {
    await super.init()
    onCommitReport((report) => {
      this.commit = report
      if (report.missing.length > 0 && report.policy === 'primary') {
        process.stderr.write(`${this.paintErr.warn('Warning:')} revision ${report.revision} is committed on the primary only (commit policy "primary"); not confirmed by ${report.missing.join(', ')} yet: it would be lost if the primary failed now\n`)
      }
    })
  }

  /** `--json` of a command that changed the configuration says who holds the change (`commit`). */
  protected override toSuccessJson(result: unknown): unknown {
    if (this.commit && result && typeof result === 'object' && !Array.isArray(result)) return {...result, commit: this.commit}
    return result
  }
  /** The context the primary's address came from, so errors can name it. */
  protected contextUsed: string | undefined

  /** The selected context: --context NAME, else the current one. */
  protected context(): {name: string; context: Context} | undefined {
    const f = this.flags as {context?: string}
    const contexts = new Contexts(this.cliDir)
    if (f.context) {
      const context = contexts.get(f.context)
      if (!context) throw contexts.unknown(f.context)
      return {name: f.context, context}
    }
    return contexts.current()
  }

  /** The primary, from --primary, CLUSTER_PRIMARY or the selected context. */
  protected primaryTarget(): {host: string; port: number} {
    const f = this.flags as {primary?: string}
    let text = f.primary ?? process.env.CLUSTER_PRIMARY
    if (!text) {
      const selected = this.context()
      text = selected?.context.primary
      this.contextUsed = selected?.name
    }
    if (!text) throw usageError('no primary given', 'give --primary HOST[:PORT], set CLUSTER_PRIMARY, or select a saved context with `cluster context use NAME`')
    return this.parseTarget(text, this.contextUsed ? `context "${this.contextUsed}"` : '--primary')
  }

  /**
   * For read commands: connect to the primary, and when the address given is a secondary, say so and follow
   * it to its primary (`--follow`, the default) or fail (`--no-follow`): a secondary's view is not the cluster's.
   */
  protected async connectPrimaryForRead(follow: boolean): Promise<{client: AdminClient; target: {host: string; port: number}}> {
    const target = this.primaryTarget()
    const client = await this.connect(target)
    const status = await client.exec<NodeStatus>('status', null)
    if (status.role !== 'secondary' || !status.primary) return {client, target}
    const at = formatHostPort(target.host, target.port)
    const primary = {host: status.primary.host, port: status.primary.port}
    const p = formatHostPort(primary.host, primary.port)
    const where = this.contextUsed ? ` (from context "${this.contextUsed}": update it with \`cluster context add ${this.contextUsed} --primary ${p} --force\`)` : ''
    if (!follow) throw new OperationError('not-primary', `${at} is a secondary; the primary is ${p}${where}`, `run it with --primary ${p}, or with --follow`)
    process.stderr.write(`Note: ${at} is a secondary; the primary is ${p}: asking it${where}\n`)
    return {client: await this.connect(primary), target: primary}
  }

  /** Remembers the nodes of a servers list in the context it came from (`health` falls back on them). */
  protected cacheNodes(doc: ServersDocument): void {
    if (!this.contextUsed || doc.servers.length === 0) return
    try {
      new Contexts(this.cliDir).update(this.contextUsed, {nodes: doc.servers.map((s) => formatHostPort(s.host, s.port))})
    } catch {
      // A read-only config directory must not fail a read command.
    }
  }

  protected async readServers(follow: boolean): Promise<{client: AdminClient; doc: ServersDocument}> {
    const {client} = await this.connectPrimaryForRead(follow)
    const doc = await client.readJson<ServersDocument>(PATHS.servers)
    this.cacheNodes(doc)
    return {client, doc}
  }

  protected parseTarget(text: string, what: string): {host: string; port: number} {
    try {
      return parseHostPort(text)
    } catch (error) {
      throw usageError(`${what}: ${(error as Error).message}`)
    }
  }

  protected async credentials(): Promise<{username: string; password?: string; privateKey?: Buffer}> {
    const f = this.flags as {user?: string; 'password-stdin'?: boolean}
    const context = this.context()?.context
    const username = f.user ?? process.env.CLUSTER_USER ?? context?.user ?? 'admin'
    if (process.env.CLUSTER_PASSWORD) return {username, password: process.env.CLUSTER_PASSWORD}
    if (f['password-stdin']) {
      this.password ??= (await readStdin()).replace(/\r?\n$/, '')
      if (this.password === '') throw usageError('--password-stdin: standard input was empty')
      return {username, password: this.password}
    }
    const keyFile = process.env.CLUSTER_KEY_FILE ?? context?.keyFile
    if (keyFile) {
      try {
        return {username, privateKey: await readFile(keyFile)}
      } catch (error) {
        throw new OperationError('invalid', `cannot read the key file ${keyFile}: ${(error as NodeJS.ErrnoException).code}`, 'fix CLUSTER_KEY_FILE or the context\'s key')
      }
    }
    if (this.interactive) {
      this.password ??= await promptPassword(`Admin password for ${username}:`)
      return {username, password: this.password}
    }
    throw usageError('no admin password given', 'set CLUSTER_PASSWORD, pass --password-stdin, or save a context with a key (prompting is off: no TTY, --yes or CI)')
  }

  /** Connects to a node's admin endpoint, verifying its host key against the known hosts. */
  protected async connect(target: {host: string; port: number}): Promise<AdminClient> {
    const f = this.flags as {'host-key'?: string; timeout: number}
    const known = new KnownHosts(this.cliDir)
    const {AdminClient} = await import('../protocol/admin-client.js')
    const client = await AdminClient.connect({
      host: target.host,
      port: target.port,
      credentials: await this.credentials(),
      timeoutMs: f.timeout * 1000,
      localAddress: process.env.CLUSTER_LOCAL_ADDRESS || undefined,
      checkHostKey: known.checker(target.host, target.port, f['host-key'], (fp) => {
        process.stderr.write(`Trusting ${formatHostPort(target.host, target.port)} on first use: host key ${fp}\n`)
      }),
    })
    this.clients.push(client)
    return client
  }

  /** Runs an exec action, showing its progress events on stderr as they come. */
  protected async runAction<R>(client: AdminClient, command: string, args: object | null): Promise<R> {
    const progress = new Progress()
    try {
      return await client.exec<R>(command, args, (e) => (e.done ? progress.done(e.message) : progress.step(e.message)))
    } finally {
      progress.stop()
    }
  }

  /** Errors about a connection say when its address came from a context (a stale one is a common cause). */
  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (this.contextUsed && err instanceof OperationError && ['unreachable', 'filtered', 'auth', 'host-key', 'banned'].includes(err.code) && !err.message.includes('context "')) {
      err.message = `${err.message} (the address came from context "${this.contextUsed}")`
    }
    return super.catch(err)
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    for (const c of this.clients) c.close()
    return super.finally(err)
  }
}
