// Saved connections ("contexts"): a name → primary address, user and optional key file.
import {OperationError} from '../protocol/index.js'
import {openStore} from './config-dir.js'

export interface Context {
  primary: string
  user?: string
  /** A private key installed for this context (used instead of a password). */
  keyFile?: string
  /** The nodes of the last servers list read through this context: `health` checks them when the primary is down. */
  nodes?: string[]
}

interface ContextsData extends Record<string, unknown> {
  current: string | null
  contexts: Record<string, Context>
}

export class Contexts {
  private readonly store

  constructor(dir: string) {
    this.store = openStore<ContextsData>(dir, 'contexts', {current: null, contexts: {}})
  }

  list(): {name: string; current: boolean; context: Context}[] {
    const current = this.store.get('current')
    return Object.entries(this.store.get('contexts')).map(([name, context]) => ({name, current: name === current, context}))
  }

  get(name: string): Context | undefined {
    return this.store.get('contexts')[name]
  }

  current(): {name: string; context: Context} | undefined {
    const name = this.store.get('current')
    const context = name ? this.get(name) : undefined
    return name && context ? {name, context} : undefined
  }

  add(name: string, context: Context, force = false): void {
    checkName(name)
    if (this.get(name) && !force) {
      throw new OperationError('invalid', `a context named "${name}" exists already (→ ${this.get(name)!.primary})`, `replace it with \`cluster context add ${name} … --force\`, or pick another name`)
    }
    this.store.set('contexts', {...this.store.get('contexts'), [name]: context})
    if (!this.store.get('current')) this.store.set('current', name)
  }

  use(name: string): void {
    if (!this.get(name)) throw this.unknown(name)
    this.store.set('current', name)
  }

  /** Replaces fields of an existing context (e.g. the primary after `promote`, the cached node list). */
  update(name: string, change: Partial<Context>): void {
    const context = this.get(name)
    if (!context) throw this.unknown(name)
    this.store.set('contexts', {...this.store.get('contexts'), [name]: {...context, ...change}})
  }

  rename(from: string, to: string): void {
    const context = this.get(from)
    if (!context) throw this.unknown(from)
    checkName(to)
    if (this.get(to)) throw new OperationError('invalid', `a context named "${to}" exists already`, `remove it first with \`cluster context remove ${to}\``)
    const contexts = {...this.store.get('contexts'), [to]: context}
    delete contexts[from]
    this.store.set('contexts', contexts)
    if (this.store.get('current') === from) this.store.set('current', to)
  }

  remove(name: string): void {
    if (!this.get(name)) throw this.unknown(name)
    const contexts = {...this.store.get('contexts')}
    delete contexts[name]
    this.store.set('contexts', contexts)
    if (this.store.get('current') === name) this.store.set('current', null)
  }

  unknown(name: string): OperationError {
    const names = Object.keys(this.store.get('contexts'))
    return new OperationError('invalid', `no context named "${name}"`, names.length ? `known contexts: ${names.join(', ')}` : 'add one with `cluster context add NAME --primary HOST`')
  }
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new OperationError('invalid', `context name "${name}" is not allowed`, 'use letters, digits, "_", "." or "-"')
}
