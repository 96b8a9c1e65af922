// Colour for people only: off with NO_COLOR, off when the stream is not a terminal.
import {Chalk} from 'chalk'

export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  return !('NO_COLOR' in process.env) && Boolean(stream.isTTY) && process.env.TERM !== 'dumb'
}

export function painter(stream: NodeJS.WriteStream = process.stdout) {
  const c = new Chalk({level: colorEnabled(stream) ? 1 : 0})
  return {
    ok: (s: string) => c.green(s),
    bad: (s: string) => c.red(s),
    warn: (s: string) => c.yellow(s),
    dim: (s: string) => c.dim(s),
    bold: (s: string) => c.bold(s),
    state: (s: string) => (s === 'in-sync' || s === 'up' || s === 'ok' || s === 'primary' ? c.green(s) : s === 'syncing' || s === 'standalone' ? c.yellow(s) : s === 'secondary' ? c.cyan(s) : c.red(s)),
  }
}
