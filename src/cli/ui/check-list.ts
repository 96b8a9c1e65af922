// A ✔/✖ list of diagnostic checks for people, each failure followed by its hint.
import type {DiagnoseCheck} from '../../protocol/index.js'
import type {painter} from './style.js'

export function renderCheckList(checks: DiagnoseCheck[], paint: ReturnType<typeof painter>): string {
  const width = Math.max(...checks.map((c) => c.name.length))
  const lines: string[] = []
  for (const c of checks) {
    const skipped = !c.ok && c.detail.startsWith('skipped:')
    const mark = c.ok ? paint.ok('✔') : skipped ? paint.dim('·') : paint.bad('✖')
    lines.push(`${mark} ${c.name.padEnd(width)}  ${skipped ? paint.dim(c.detail) : c.detail}`)
    if (!c.ok && c.hint) lines.push(`  ${' '.repeat(width)}  ${paint.dim('→')} ${c.hint}`)
  }
  const failed = checks.filter((c) => !c.ok && !c.detail.startsWith('skipped:'))
  lines.push(failed.length === 0
    ? paint.ok(`All ${checks.length} checks passed`)
    : paint.bad(`${failed.length} check${failed.length > 1 ? 's' : ''} failed: ${failed.map((c) => c.name).join(', ')}`))
  return lines.join('\n')
}
