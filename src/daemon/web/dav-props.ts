// Dead properties (PROPPATCH) on the shared storage: one JSON file per resource in a tree that mirrors the
// storage tree, so MOVE, COPY and DELETE of a collection carry its members' properties with one operation.
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import type {SharedState} from './shared-state.js'

export interface DeadProp {
  ns: string
  name: string
  /** The whole property element, serialised with its namespace declarations. */
  xml: string
}

/** Each storage path segment becomes a directory `_<segment>` (long ones hashed), so no name clashes with props.json. */
function segmentDir(seg: string): string {
  return Buffer.byteLength(seg) > 200 ? `#${createHash('sha256').update(seg).digest('hex')}` : `_${seg}`
}

export class DeadProps {
  constructor(private readonly state: SharedState) {}

  private dir(storagePath: string): string {
    const segs = storagePath.split('/').filter(Boolean).map(segmentDir)
    return this.state.file('props', ...segs)
  }

  async get(storagePath: string): Promise<DeadProp[]> {
    const doc = await this.state.readJson<{props: DeadProp[]}>(path.join(this.dir(storagePath), 'props.json'), {props: []})
    return doc.props
  }

  /** Applies sets and removals all at once (PROPPATCH is atomic). */
  async patch(storagePath: string, ops: ({op: 'set'; prop: DeadProp} | {op: 'remove'; ns: string; name: string})[]): Promise<void> {
    const file = path.join(this.dir(storagePath), 'props.json')
    await this.state.withMutex('props', async () => {
      const props = (await this.state.readJson<{props: DeadProp[]}>(file, {props: []})).props
      for (const o of ops) {
        const ns = o.op === 'set' ? o.prop.ns : o.ns
        const name = o.op === 'set' ? o.prop.name : o.name
        const at = props.findIndex((p) => p.ns === ns && p.name === name)
        if (at >= 0) props.splice(at, 1)
        if (o.op === 'set') props.push(o.prop)
      }
      await this.state.writeJson(file, {props})
    })
  }

  async remove(storagePath: string): Promise<void> {
    await fs.rm(this.dir(storagePath), {recursive: true, force: true})
  }

  async move(from: string, to: string): Promise<void> {
    await this.remove(to)
    const src = this.dir(from)
    if (!(await fs.stat(src).catch(() => null))) return
    await fs.mkdir(path.dirname(this.dir(to)), {recursive: true, mode: 0o700})
    await fs.rename(src, this.dir(to))
  }

  async copy(from: string, to: string, deep: boolean): Promise<void> {
    await this.remove(to)
    const src = this.dir(from)
    if (!(await fs.stat(src).catch(() => null))) return
    const dst = this.dir(to)
    await fs.mkdir(dst, {recursive: true, mode: 0o700})
    if (deep) await fs.cp(src, dst, {recursive: true})
    else await fs.copyFile(path.join(src, 'props.json'), path.join(dst, 'props.json')).catch(() => {})
  }
}
