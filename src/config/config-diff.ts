// Field-by-field differences between two configurations, as `cluster config diff` and `add-server --dry-run`
// show them: `{path: "users[2].home", primary, server}`.
export interface ConfigChange {
  path: string
  primary: unknown
  server: unknown
}

/** Fields that differ between nodes by nature and are not drift. */
const IGNORED = new Set(['baseRevision'])

export function diffConfigs(primary: unknown, server: unknown, at = ''): ConfigChange[] {
  if (Array.isArray(primary) && Array.isArray(server)) {
    const out: ConfigChange[] = []
    for (let i = 0; i < Math.max(primary.length, server.length); i++) {
      out.push(...diffConfigs(primary[i], server[i], `${at}[${i}]`))
    }
    return out
  }
  if (isObject(primary) && isObject(server)) {
    const out: ConfigChange[] = []
    const keys = [...new Set([...Object.keys(primary), ...Object.keys(server)])].sort()
    for (const k of keys) {
      if (at === '' && IGNORED.has(k)) continue
      out.push(...diffConfigs(primary[k], server[k], at ? `${at}.${k}` : k))
    }
    return out
  }
  if (JSON.stringify(primary) === JSON.stringify(server)) return []
  return [{path: at || '(root)', primary: primary ?? null, server: server ?? null}]
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
