// The base of every command: --json and -o, --yes, --quiet, error shaping into exit codes (cli.md), colour rules.
import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {EXIT, OperationError, exitCodeFor} from '../protocol/index.js'
import {cliConfigDir} from './config-dir.js'
import {redactHashes} from './redact.js'
import {setQuiet} from './ui/progress.js'
import {interactive} from './ui/prompt.js'
import {painter} from './ui/style.js'
import {setTableMode} from './ui/table.js'

export const OUTPUTS = ['json', 'yaml', 'table', 'wide'] as const
export type Output = (typeof OUTPUTS)[number]

/** `-o VALUE`, `-oVALUE`, `--output VALUE`, `--output=VALUE` in argv (before `--`); read before parsing. */
export function outputOf(argv: string[]): string | undefined {
  let found: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') break
    if (a === '-o' || a === '--output') found = argv[i + 1]
    else if (a.startsWith('--output=')) found = a.slice(9)
    else if (/^-o[^-]/.test(a)) found = a.slice(2).replace(/^=/, '')
  }
  return found
}

/** The answer "no" at a confirmation: nothing was changed, exit 1 (not a usage error). */
export function cancelled(): OperationError {
  return new OperationError('refused', 'cancelled: nothing was changed')
}

export type FlagsOf<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type ArgsOf<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** A usage problem (missing or malformed value): exit 2, message names the flag. */
export function usageError(message: string, hint?: string): OperationError {
  return new OperationError('invalid', message, hint)
}

/** Thrown by check commands after printing their report: exit 3 without an error message. */
export class CheckFailed extends Error {
  constructor() {
    super('check failed')
  }
}

export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    yes: Flags.boolean({char: 'y', description: 'answer yes to confirmations; never prompt', helpGroup: 'GLOBAL', default: false}),
    output: Flags.string({char: 'o', description: 'output format: json (= --json), yaml, table, wide (tables without truncation)', helpGroup: 'GLOBAL', options: [...OUTPUTS]}),
    quiet: Flags.boolean({char: 'q', description: 'no progress and no human output (errors still go to stderr); for scripts', helpGroup: 'GLOBAL', default: false}),
  }

  protected flags!: FlagsOf<T>
  protected args!: ArgsOf<T>
  protected paint = painter(process.stdout)
  protected paintErr = painter(process.stderr)

  /** Set once the command has finished (result, error or exit): before that, an empty event loop is a bug. */
  private finished = false

  /** Set once the command line parsed: an error before that is a usage error (exit 2). */
  private parsedArgv = false
  private yaml: typeof import('yaml') | undefined

  public override async init(): Promise<void> {
    // A promise nobody settles (a socket that died without an event) would end the process with Node's
    // exit 13 and no message; cli.md allows 0-3, always with a message.
    process.once('beforeExit', () => {
      if (this.finished) return
      this.finished = true
      const p = painter(process.stderr)
      if (this.jsonEnabled()) process.stdout.write(JSON.stringify({error: {code: 'internal', message: `${this.id ?? 'the command'} ended without a result: the connection to the node ended unexpectedly`}}, null, 2) + '\n')
      else process.stderr.write(`${p.bad('Error:')} ${this.id ?? 'the command'} ended without a result: the connection to the node ended unexpectedly\n${p.dim('→')} check the node's log and run the command again\n`)
      process.exitCode = EXIT.failed
    })
    await super.init()
    const output = outputOf(this.argv)
    if (output === 'yaml') this.yaml = await import('yaml')
    setTableMode({wide: output === 'wide'})
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as FlagsOf<T>
    this.args = args as ArgsOf<T>
    this.parsedArgv = true
    if ((flags as {quiet?: boolean}).quiet) setQuiet(true)
  }

  /** --json, or -o json / -o yaml (one document on stdout either way). */
  public override jsonEnabled(): boolean {
    if (!this.ctor?.enableJsonFlag) return false
    const output = outputOf(this.argv)
    return output === 'json' || output === 'yaml' || super.jsonEnabled()
  }

  /** Writes the one document of --json / -o yaml on stdout (never colourised: scripts parse it). */
  protected override logJson(json: unknown): void {
    if (!this.showSecrets) json = redactHashes(json)
    process.stdout.write(this.yaml ? this.yaml.stringify(json) : JSON.stringify(json, null, 2) + '\n')
  }

  /** --show-secrets, on the commands that have it: hashes are shown as they are. */
  protected get showSecrets(): boolean {
    return Boolean((this.flags as {'show-secrets'?: boolean} | undefined)?.['show-secrets'])
  }

  /** `value` as people may see it: hashes redacted unless --show-secrets. */
  protected redact<V>(value: V): V {
    return this.showSecrets ? value : redactHashes(value)
  }

  protected get quiet(): boolean {
    return Boolean((this.flags as {quiet?: boolean} | undefined)?.quiet)
  }

  /** Where contexts and known hosts live. */
  protected get cliDir(): string {
    return cliConfigDir(this.config.configDir)
  }

  /** Prompts are allowed: stdin is a TTY, no --yes, no CI. */
  protected get interactive(): boolean {
    return interactive((this.flags as {yes?: boolean}).yes)
  }

  /** Human output only: suppressed under --json. */
  protected say(text: string): void {
    if (!this.jsonEnabled() && !this.quiet) this.log(text)
  }

  /** For check commands: print the report (JSON or human) and exit 3 when the check failed. */
  protected report<R>(result: R, ok: boolean, human: () => void): R {
    if (this.jsonEnabled()) this.logJson(result)
    else if (!this.quiet) human()
    if (!ok) throw new CheckFailed()
    if (this.jsonEnabled()) throw new CheckPassed()
    return result
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    this.finished = true
    return super.finally(err)
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (err instanceof CheckPassed) return this.exit(EXIT.ok)
    if (err instanceof CheckFailed) return this.exit(EXIT.checkFailed)
    if (err instanceof Errors.ExitError) throw err
    let failure: OperationError | undefined
    if (err instanceof OperationError) failure = err
    else if (err.name === 'ConfigFileError' || err.name === 'ConfigValidationError') failure = new OperationError('invalid', err.message, 'fix the file by hand or restore it from config/history/; it was not modified')
    if (!failure && (!this.parsedArgv || err.oclif?.exit === EXIT.usage)) {
      // A parse error (unknown flag, extra or malformed argument): ours, in our one error style, exit 2.
      failure = new OperationError('invalid', err.message.replace(/\n\s*See more help with --help$/, '').trim(), `see \`${[this.config.bin, this.id?.replaceAll(':', ' '), '--help'].filter(Boolean).join(' ')}\``)
    }
    if (!failure) {
      failure = new OperationError('internal', err.message)
      if (process.env.DEBUG) process.stderr.write(`${err.stack}\n`)
    }
    const exit = exitCodeFor(failure.code)
    if (this.jsonEnabled() && (err as {printed?: boolean}).printed) return this.exit(exit) // the report is on stdout already
    if (this.jsonEnabled()) {
      this.logJson({error: failure.toJSON()})
    } else {
      const p = painter(process.stderr)
      process.stderr.write(`${p.bad('Error:')} ${failure.message}\n`)
      if (failure.hint) process.stderr.write(`${p.dim('→')} ${failure.hint}\n`)
    }
    return this.exit(exit)
  }
}

/** Ends a passing check command whose JSON was printed already. */
class CheckPassed extends Error {}
