// Daemon log: one line per event on stderr, `time level [component] message key=value…`. Never log secrets.
export type Level = 'debug' | 'info' | 'warn' | 'error'

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  child(component: string): Logger
}

const ORDER: Record<Level, number> = {debug: 10, info: 20, warn: 30, error: 40}

export function createLogger(component = 'node', min: Level = (process.env.CLUSTER_LOG_LEVEL as Level) || 'info'): Logger {
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < (ORDER[min] ?? 20)) return
    const extra = fields
      ? Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
          .join(' ')
      : ''
    process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} [${component}] ${msg}${extra ? ' ' + extra : ''}\n`)
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger(c, min),
  }
}
