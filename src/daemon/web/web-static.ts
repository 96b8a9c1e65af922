// The browser client's files (plain HTML, CSS and JS in the package's assets/web/), read once at start.
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {contentType} from './mime.js'

function assetsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'assets', 'web')
    if (existsSync(path.join(candidate, 'index.html'))) return candidate
    dir = path.dirname(dir)
  }
  throw new Error('the web client assets (assets/web/index.html) are missing from the package')
}

export interface StaticFile {
  body: Buffer
  type: string
}

export function loadStaticFiles(): Map<string, StaticFile> {
  const dir = assetsDir()
  const files = new Map<string, StaticFile>()
  for (const name of readdirSync(dir)) files.set(name, {body: readFileSync(path.join(dir, name)), type: contentType(name)})
  return files
}
