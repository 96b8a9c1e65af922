// Locations the tests need: the repo root and the CLI entry point.
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** dist/test/helpers → repo root */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const CLI = path.join(ROOT, 'bin', 'run.js')
