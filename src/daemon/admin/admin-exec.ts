// Exec requests on the admin endpoint: `COMMAND [JSON]`, arguments inline or on stdin; newline-delimited
// JSON progress events, then one result object; exit status 0 ok, 1 failed, 2 unknown command or bad request.
import type {ServerChannel} from 'ssh2'
import {EXEC_EXIT, MAX_CONFIG_BYTES, MEMBER_SESSION, MEMBER_SESSION_MAX_LINE, OperationError, type ExecLine, type SessionReply, type SessionRequest} from '../../protocol/index.js'
import {onJsonLines} from '../../protocol/json-lines.js'
import type {Logger} from '../log.js'
import type {Actor, NodeRuntime} from '../node-runtime.js'

const MAX_STDIN = 1024 * 1024
/** The primary stages full documents (a member without the delta's base): as large as a configuration. */
const MAX_MEMBER_STDIN = MAX_CONFIG_BYTES + 64 * 1024
/** Commands that take no arguments answer at once, without waiting for stdin to close. */
const NO_ARGS = new Set(['status', 'demote'])

export function runExec(channel: ServerChannel, commandLine: string, node: NodeRuntime, actor: Actor, log: Logger): void {
  const line = commandLine.trim()
  const space = line.search(/\s/)
  const name = space < 0 ? line : line.slice(0, space)
  const inline = space < 0 ? '' : line.slice(space + 1).trim()
  const send = (msg: ExecLine) => {
    if (channel.writable) channel.write(JSON.stringify(msg) + '\n')
  }
  const finish = (code: number) => {
    channel.exit(code)
    channel.end()
  }
  const handler = node.exec.get(name)
  if (!handler) {
    send({error: {code: 'unknown-command', message: `unknown command "${name}"`, hint: `commands: ${[...node.exec.keys()].join(', ')}`}})
    return finish(EXEC_EXIT.badRequest)
  }
  const run = async (argsText: string) => {
    let args: Record<string, unknown> = {}
    if (argsText.trim() !== '') {
      try {
        const parsed = JSON.parse(argsText) as unknown
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected a JSON object')
        args = parsed as Record<string, unknown>
      } catch (error) {
        send({error: {code: 'invalid', message: `malformed arguments for "${name}": ${(error as Error).message}`, hint: 'send one JSON object on stdin'}})
        return finish(EXEC_EXIT.badRequest)
      }
    }
    try {
      const result = await handler(args, {actor, progress: (step, message, done) => send({event: 'progress', step, message, ...(done ? {done} : {})})})
      send({result: result ?? null})
      finish(EXEC_EXIT.ok)
    } catch (error) {
      const e = error instanceof OperationError ? error : new OperationError('internal', (error as Error).message)
      if (!(error instanceof OperationError)) log.error('exec failed', {command: name, error: (error as Error).stack})
      send({error: e.toJSON()})
      finish(e.code === 'invalid' ? EXEC_EXIT.badRequest : EXEC_EXIT.failed)
    }
  }
  if (inline !== '' || NO_ARGS.has(name)) return void run(inline)
  const chunks: Buffer[] = []
  let size = 0
  // add-server's `join` carries the primary's whole configuration to the new secondary
  const limit = actor.kind === 'cluster' || name === 'join' ? MAX_MEMBER_STDIN : MAX_STDIN
  channel.on('data', (d: Buffer) => {
    size += d.length
    if (size <= limit) chunks.push(d)
  })
  channel.once('end', () => {
    if (size > limit) {
      send({error: {code: 'invalid', message: `arguments larger than ${limit} bytes`}})
      return finish(EXEC_EXIT.badRequest)
    }
    void run(Buffer.concat(chunks).toString('utf8'))
  })
}

/** The members' session (protocol MEMBER_SESSION): requests as JSON lines, answered by id, until it closes. */
export function runMemberSession(channel: ServerChannel, node: NodeRuntime, actor: Actor, log: Logger): void {
  const send = (reply: SessionReply) => {
    if (channel.writable) channel.write(JSON.stringify(reply) + '\n')
  }
  if (actor.kind !== 'cluster') {
    send({id: 0, error: {code: 'refused', message: `${MEMBER_SESSION} is for cluster members`}})
    channel.exit(EXEC_EXIT.failed)
    return void channel.end()
  }
  onJsonLines<SessionRequest>(channel, (req) => {
    const id = Number(req?.id)
    const handler = req?.command !== MEMBER_SESSION ? node.exec.get(String(req?.command)) : undefined
    if (!handler) return send({id, error: {code: 'unknown-command', message: `unknown command "${String(req?.command)}"`}})
    const args = req.args && typeof req.args === 'object' && !Array.isArray(req.args) ? req.args : {}
    Promise.resolve()
      .then(() => handler(args, {actor, progress: () => {}}))
      .then((result) => send({id, result: result ?? null}), (error: unknown) => {
        const e = error instanceof OperationError ? error : new OperationError('internal', (error as Error).message)
        if (!(error instanceof OperationError)) log.error('exec failed', {command: req.command, error: (error as Error).stack})
        send({id, error: e.toJSON()})
      })
  }, MEMBER_SESSION_MAX_LINE, () => {
    log.warn(`${MEMBER_SESSION}: a request line over the limit; closing the session`, {limit: MEMBER_SESSION_MAX_LINE})
    channel.close()
  })
}
