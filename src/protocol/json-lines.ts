// Newline-delimited JSON over an SSH channel: the framing every kept-open channel of the admin endpoint uses
// (exec results, the members' session, the striped cluster's node link).

/** Calls `onLine` with each complete non-empty line `stream` delivers; `onTooLong` when a line passes `maxLine`. */
export function onLines(stream: {on(event: 'data', listener: (d: Buffer) => void): unknown}, onLine: (line: string) => void, maxLine = Infinity, onTooLong?: () => void): void {
  let buffer = ''
  stream.on('data', (d: Buffer) => {
    buffer += d.toString('utf8')
    if (buffer.length > maxLine && !buffer.includes('\n')) {
      buffer = ''
      return onTooLong?.()
    }
    let nl: number
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (line.trim() !== '') onLine(line)
    }
  })
}

/** Calls `onMessage` with each line parsed as JSON (lines that are not JSON are skipped). */
export function onJsonLines<T>(stream: {on(event: 'data', listener: (d: Buffer) => void): unknown}, onMessage: (msg: T) => void, maxLine = Infinity, onTooLong?: () => void): void {
  onLines(stream, (line) => {
    let msg: T
    try {
      msg = JSON.parse(line) as T
    } catch {
      return
    }
    onMessage(msg)
  }, maxLine, onTooLong)
}
