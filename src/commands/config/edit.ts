import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {cancelled, usageError} from '../../cli/base-command.js'
import {ClusterCommand} from '../../cli/cluster-command.js'
import {readConfig} from '../../cli/config-edit.js'
import {redactHashes, restoreHashes} from '../../cli/redact.js'
import {confirm} from '../../cli/ui/prompt.js'
import type {ClusterConfig} from '../../config/schema.js'
import {OperationError, PATHS, type NodeStatus} from '../../protocol/index.js'

const ROUNDS = 5

export default class ConfigEdit extends ClusterCommand<typeof ConfigEdit> {
  static override summary = 'Edit the cluster configuration in $EDITOR (on the primary, so on every node)'
  static override description = `Opens the configuration (hashes shown as \`scrypt:…\` and kept as they are unless replaced) in $VISUAL, $EDITOR or vi. On save it is written with the revision it was read at (baseRevision): the node validates it, names a bad field, and refuses it when someone changed the configuration meanwhile — either way the editor re-opens on your text or on the new revision (up to ${ROUNDS} rounds). Needs a terminal; scripts use \`config set\` or \`apply\`.`
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    'EDITOR=nano <%= config.bin %> <%= command.id %> --primary 10.0.0.11',
  ]

  async run(): Promise<{revision: number; changed: boolean}> {
    if (!process.stdin.isTTY || !process.stdout.isTTY) throw usageError('config edit needs a terminal', 'in scripts use `cluster config set PATH VALUE` or `cluster apply -f FILE`')
    const client = await this.connect(this.primaryTarget())
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-edit-'))
    const file = path.join(dir, 'cluster-config.json')
    try {
      let current = await readConfig(client)
      let text = JSON.stringify(redactHashes(current), null, 2) + '\n'
      for (let round = 1; round <= ROUNDS; round++) {
        writeFileSync(file, text, {mode: 0o600})
        this.openEditor(file)
        const edited = readFileSync(file, 'utf8')
        if (edited === text && round === 1) {
          this.say('No changes: nothing written')
          return {revision: current.revision, changed: false}
        }
        try {
          const doc = JSON.parse(edited) as ClusterConfig
          restoreHashes(doc, current)
          await client.writeFile(PATHS.config, JSON.stringify({...doc, baseRevision: current.revision, changeSummary: 'config edit'}))
          const {revision} = await client.exec<NodeStatus>('status', null)
          this.say(`${this.paint.ok('Saved')} as revision ${revision}`)
          return {revision, changed: true}
        } catch (error) {
          const conflict = error instanceof OperationError && error.code === 'conflict'
          const invalid = error instanceof SyntaxError || (error instanceof OperationError && error.code === 'invalid')
          if (!conflict && !invalid) throw error
          process.stderr.write(`${this.paint.bad('Not saved:')} ${(error as Error).message}\n`)
          if (!(await confirm(conflict ? 'Someone changed the configuration meanwhile. Re-open on the new revision (your edit is lost)?' : 'Re-open your edit to fix it?'))) throw cancelled()
          if (conflict) {
            current = await readConfig(client)
            text = JSON.stringify(redactHashes(current), null, 2) + '\n'
          } else text = edited
        }
      }
      throw new OperationError('refused', `not saved after ${ROUNDS} rounds`, 'run `cluster config edit` again')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }

  private openEditor(file: string): void {
    const editor = process.env.VISUAL || process.env.EDITOR || 'vi'
    const r = spawnSync(`${editor} "${file}"`, {stdio: 'inherit', shell: true})
    if (r.status !== 0) throw new OperationError('refused', `the editor "${editor}" exited with ${r.status ?? r.signal}: nothing written`, 'set EDITOR to an editor that exits 0 on save')
  }
}
