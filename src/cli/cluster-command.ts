// The base of commands that talk to a node's admin endpoint: connection flags and environment variables of
// cli.md (--primary/CLUSTER_PRIMARY/context, --user/CLUSTER_USER, CLUSTER_PASSWORD/--password-stdin/key).
import {readFile} from 'node:fs/promises'
import {Command, Flags} from '@oclif/core'
import {OperationError, formatHostPort, parseHostPort} from '../protocol/index.js'
import type {AdminClient} from '../protocol/admin-client.js'
import type {CommitReport} from '../protocol/index.js'
import {onCommitReport} from './config-edit.js'
import {BaseCommand, usageError} from './base-command.js'
import {Contexts} from './contexts.js'
import {KnownHosts} from './known-hosts.js'
import {Progress} from './ui/progress.js'
import {promptPassword, readStdin} from './ui/prompt.js'

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

  /** The primary, from --primary, CLUSTER_PRIMARY or the current context. */
  protected primaryTarget(): {host: string; port: number} {
    const f = this.flags as {primary?: string}
    const text = f.primary ?? process.env.CLUSTER_PRIMARY ?? new Contexts(this.cliDir).current()?.context.primary
    if (!text) throw usageError('no primary given', 'give --primary HOST[:PORT], set CLUSTER_PRIMARY, or select a saved context with `cluster context use NAME`')
    return this.parseTarget(text, '--primary')
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
    const context = new Contexts(this.cliDir).current()?.context
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

  protected override async finally(err: Error | undefined): Promise<unknown> {
    for (const c of this.clients) c.close()
    return super.finally(err)
  }
}
