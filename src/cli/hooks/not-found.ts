// An unknown command. Two cases oclif gets wrong for us: a real command followed by an extra argument
// (`servers extra-arg` is parsed as the command "servers extra-arg") — run the command, so its strict parser
// reports the argument as a usage error (exit 2, JSON under --json); and a typo — say "did you mean" in our
// one error style without a terminal, and let @oclif/plugin-not-found ask "Did you mean …?" on one.
import type {Hook} from '@oclif/core'
import {painter} from '../ui/style.js'

/** Edit distance (Levenshtein), for "did you mean". */
export function distance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]
}

export function closest(id: string, ids: string[]): string | undefined {
  return ids.map((c) => ({c, d: distance(id, c)})).sort((x, y) => x.d - y.d)[0]?.c
}

const hook: Hook<'command_not_found'> = async function (opts) {
  const words = opts.id.split(':')
  for (let n = words.length - 1; n >= 1; n--) {
    const prefix = words.slice(0, n).join(':')
    if (opts.config.findCommand(prefix)) return opts.config.runCommand(prefix, [...words.slice(n), ...(opts.argv ?? [])])
  }
  const ids = [...opts.config.commandIDs, 'help']
  const readable = (id: string) => id.replaceAll(':', ' ')
  if (process.stdin.isTTY && process.stderr.isTTY && !process.env.CI) {
    const {default: notFound} = await import('@oclif/plugin-not-found')
    return (notFound as unknown as Hook<'command_not_found'>).call(this, opts)
  }
  const suggestion = closest(opts.id, ids)
  const p = painter(process.stderr)
  process.stderr.write(`${p.bad('Error:')} "${readable(opts.id)}" is not a ${opts.config.bin} command${suggestion ? `; did you mean \`${opts.config.bin} ${readable(suggestion)}\`?` : ''}\n`)
  process.stderr.write(`${p.dim('→')} \`${opts.config.bin} help\` lists the commands\n`)
  this.exit(2)
}

export default hook
