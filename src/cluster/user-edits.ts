// The `users-edit` exec on the primary: one file-service user added, re-keyed or removed without the CLI
// reading and writing back the whole configuration (20 MB with 50,000 users). The change is the same
// revision bump, validation, commit gate and history as a written current.json; only the changed user is
// copied and validated again, and the secondaries get it as a delta.
import type {NodeRuntime} from '../daemon/node-runtime.js'
import {REDACTED, type ClusterConfig, type Permission, type User} from '../config/schema.js'
import {makeUser, noSuchUserError, userExistsError} from '../config/users.js'
import {OperationError, type UsersEditRequest, type UsersEditResult} from '../protocol/index.js'

const ACTIONS = ['lookup', 'add', 'passwd', 'remove'] as const

function parse(args: Record<string, unknown>): UsersEditRequest {
  const a = args as Partial<UsersEditRequest>
  if (!ACTIONS.includes(a.action as never)) throw new OperationError('invalid', `"action" must be one of ${ACTIONS.join(', ')}`)
  if (typeof a.name !== 'string' || a.name === '') throw new OperationError('invalid', '"name" is missing or not a string')
  if (a.baseRevision !== undefined && !Number.isInteger(a.baseRevision)) throw new OperationError('invalid', '"baseRevision" must be an integer')
  if (a.passwordHash !== undefined && a.passwordHash !== null && typeof a.passwordHash !== 'string') throw new OperationError('invalid', '"passwordHash" must be a string or null')
  if (a.publicKeys !== undefined && (!Array.isArray(a.publicKeys) || a.publicKeys.some((k) => typeof k !== 'string'))) throw new OperationError('invalid', '"publicKeys" must be a list of strings')
  if (a.permissions !== undefined && (!Array.isArray(a.permissions) || a.permissions.some((k) => typeof k !== 'string'))) throw new OperationError('invalid', '"permissions" must be a list of strings')
  if (a.home !== undefined && typeof a.home !== 'string') throw new OperationError('invalid', '"home" must be a string')
  return a as UsersEditRequest
}

const shown = (u: User | undefined): UsersEditResult['user'] => (u ? {...u, passwordHash: u.passwordHash === null ? null : REDACTED} : null)

/** The next configuration for `req` (sharing every other user with `c`), or null when nothing changes. */
function edit(c: ClusterConfig, req: UsersEditRequest): {next: ClusterConfig | null; result: User | undefined} {
  const i = c.users.findIndex((u) => u.name === req.name)
  const existing = i < 0 ? undefined : c.users[i]
  if (req.action === 'lookup') return {next: null, result: existing}
  if (req.action === 'add') {
    if (existing && req.ifMissing) return {next: null, result: existing}
    if (existing) throw userExistsError(req.name)
    const user = makeUser(c, {name: req.name, passwordHash: req.passwordHash ?? null, publicKeys: req.publicKeys ?? [], home: req.home, permissions: req.permissions as Permission[] | undefined})
    return {next: {...c, users: [...c.users, user]}, result: user}
  }
  if (!existing) throw noSuchUserError(req.name)
  if (req.action === 'remove') return {next: {...c, users: c.users.filter((_, k) => k !== i)}, result: existing}
  if (typeof req.passwordHash !== 'string') throw new OperationError('invalid', '"passwordHash" is required for passwd')
  if (existing.passwordHash === req.passwordHash) return {next: null, result: existing}
  const user = {...existing, passwordHash: req.passwordHash}
  const users = [...c.users]
  users[i] = user
  return {next: {...c, users}, result: user}
}

export function registerUserEdits(runtime: NodeRuntime): void {
  runtime.exec.set('users-edit', async (args, ctx): Promise<UsersEditResult> => {
    if (ctx.actor.kind !== 'admin') throw new OperationError('refused', 'users-edit needs an admin user')
    if (runtime.role() === 'secondary') throw runtime.notPrimaryError()
    const req = parse(args)
    const summary = typeof req.summary === 'string' && req.summary.trim() !== '' ? req.summary.trim().slice(0, 200) : `users ${req.action} ${req.name}`
    const out = await runtime.store.edit((c) => edit(c, req), {by: ctx.actor.user, from: ctx.actor.address, summary}, req.action === 'lookup' ? undefined : req.baseRevision)
    const report = out.changed ? runtime.commitReport() : null
    return {
      revision: out.config.revision,
      changed: out.changed,
      user: shown(out.result),
      passwordPolicy: {minLength: out.config.passwordPolicy.minLength},
      commit: report && report.revision === out.config.revision ? report : null,
    }
  })
}
