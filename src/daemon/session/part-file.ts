// Names of uploads in progress: `.<name>.ftpcluster-part` next to the final name, hidden from listings.
export const PART_SUFFIX = '.ftpcluster-part'

export function partNameFor(name: string): string {
  return `.${name}${PART_SUFFIX}`
}

export function isPartName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(PART_SUFFIX) && name.length > PART_SUFFIX.length + 1
}

/** Part files with an open upload in this process: a second writer of the same name gets `busy`. */
const active = new Set<string>()

export function claimPart(realPartPath: string): boolean {
  if (active.has(realPartPath)) return false
  active.add(realPartPath)
  return true
}

export function releasePart(realPartPath: string): void {
  active.delete(realPartPath)
}

export function isPartClaimed(realPartPath: string): boolean {
  return active.has(realPartPath)
}
