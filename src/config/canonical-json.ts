// Canonical JSON (sorted keys): what the configuration's content hash is made of (config-text.ts).

export function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalize)
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value).sort()) out[k] = canonicalize((value as Record<string, unknown>)[k])
    return out
  }
  return value
}
