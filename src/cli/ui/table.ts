// Tables for people (cli-table3 without borders, like kubectl), never in --json output.
import Table from 'cli-table3'

export function renderTable(head: string[], rows: (string | number | null)[][]): string {
  const table = new Table({
    head,
    chars: {top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  '},
    style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0},
  })
  for (const r of rows) table.push(r.map((c) => (c === null ? '-' : String(c))))
  return table.toString()
}
