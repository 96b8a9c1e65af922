// The base of every command: --json, --yes, error shaping into exit codes (cli.md), colour rules.
import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {EXIT, OperationError, exitCodeFor} from '../protocol/index.js'
import {cliConfigDir} from './config-dir.js'
import {interactive} from './ui/prompt.js'
import {painter} from './ui/style.js'

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
  }

  protected flags!: FlagsOf<T>
  protected args!: ArgsOf<T>
  protected paint = painter(process.stdout)
  protected paintErr = painter(process.stderr)

  /** Set once the command has finished (result, error or exit): before that, an empty event loop is a bug. */
  private finished = false

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
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as FlagsOf<T>
    this.args = args as ArgsOf<T>
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
    if (!this.jsonEnabled()) this.log(text)
  }

  /** For check commands: print the report (JSON or human) and exit 3 when the check failed. */
  protected report<R>(result: R, ok: boolean, human: () => void): R {
    if (this.jsonEnabled()) process.stdout.write(JSON.stringify(result, null, 2) + '\n')
    else human()
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
    if (!failure) {
      // oclif parse errors (unknown flag, missing argument) carry exit 2 already.
      if (err.oclif?.exit !== undefined && this.jsonEnabled()) {
        process.stdout.write(JSON.stringify({error: {code: 'invalid', message: err.message}}, null, 2) + '\n')
        return this.exit(err.oclif.exit)
      }
      if (err.oclif?.exit !== undefined) throw err
      failure = new OperationError('internal', err.message)
      if (process.env.DEBUG) process.stderr.write(`${err.stack}\n`)
    }
    const exit = exitCodeFor(failure.code)
    if (this.jsonEnabled() && (err as {printed?: boolean}).printed) return this.exit(exit) // the report is on stdout already
    if (this.jsonEnabled()) {
      process.stdout.write(JSON.stringify({error: failure.toJSON()}, null, 2) + '\n')
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
