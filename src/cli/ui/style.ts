// Colour for people only: off with NO_COLOR, off when the stream is not a terminal. Plain ANSI SGR codes:
// six styles do not need a colour library loaded on every command (issue 13: start-up cost).
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  return !('NO_COLOR' in process.env) && Boolean(stream.isTTY) && process.env.TERM !== 'dumb'
}

export function painter(stream: NodeJS.WriteStream = process.stdout) {
  const on = colorEnabled(stream)
  const sgr = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s)
  const green = sgr(32, 39)
  const red = sgr(31, 39)
  const yellow = sgr(33, 39)
  const cyan = sgr(36, 39)
  return {
    ok: green,
    bad: red,
    warn: yellow,
    dim: sgr(2, 22),
    bold: sgr(1, 22),
    state: (s: string) => (s === 'in-sync' || s === 'up' || s === 'ok' || s === 'primary' ? green(s) : s === 'syncing' || s === 'standalone' ? yellow(s) : s === 'secondary' ? cyan(s) : red(s)),
  }
}
