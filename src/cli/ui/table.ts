// Tables for people (cli-table3 without borders, like kubectl), never in --json output. On a terminal they
// fit its width: the widest columns shrink and their cells wrap inside the column (`-o wide`: never).
import {createRequire} from 'node:module'
import type TableType from 'cli-table3'

/** Loaded on first use: commands that print no table (or print JSON) never pay for it. */
const require = createRequire(import.meta.url)

const mode = {wide: false}

/** Set once per command from `-o wide`. */
export function setTableMode(m: {wide: boolean}): void {
  mode.wide = m.wide
}

const GAP = 2
// eslint-disable-next-line no-control-regex
const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length

/** Column widths that fit `columns`: shrink the widest column one step at a time, never below its floor. */
export function fitWidths(natural: number[], floors: number[], columns: number): number[] {
  const widths = [...natural]
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP * (widths.length - 1)
  for (let guard = 0; guard < 10_000 && total() > columns; guard++) {
    let widest = -1
    for (let i = 0; i < widths.length; i++) if (widths[i] > floors[i] && (widest < 0 || widths[i] > widths[widest])) widest = i
    if (widest < 0) break
    widths[widest] -= 1
  }
  return widths
}

export function renderTable(head: string[], rows: (string | number | null)[][], columns = process.stdout.isTTY ? process.stdout.columns : undefined): string {
  const cells = rows.map((r) => r.map((c) => (c === null ? '-' : String(c))))
  const natural = head.map((h, i) => Math.max(visible(h), ...cells.map((r) => visible(r[i] ?? ''))))
  const fit = !mode.wide && columns !== undefined && columns > 0
  // cli-table3's colWidths include padding (0 here); the floor keeps headers whole and short columns intact.
  const widths = fit ? fitWidths(natural, head.map((h, i) => Math.min(natural[i], Math.max(visible(h), 8))), columns - 1) : undefined
  const Table = require('cli-table3') as typeof TableType
  const table = new Table({
    head,
    chars: {top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  '},
    style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0},
    ...(widths ? {colWidths: widths, wordWrap: true, wrapOnWordBoundary: true} : {}),
  })
  for (const r of cells) table.push(r)
  return table.toString()
}
