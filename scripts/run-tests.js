#!/usr/bin/env node
// Runs the compiled test suite with node:test: unit tests, then integration tests. Each test file picks its
// own loopback range, so files run in parallel. The runner's summary line ends the output.
import {spawn} from 'node:child_process'
import {readdirSync, statSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const only = process.argv.slice(2)
const files = []
const walk = (d) => {
  for (const n of readdirSync(d).sort()) {
    const p = path.join(d, n)
    if (statSync(p).isDirectory()) walk(p)
    else if (n.endsWith('.test.js')) files.push(p)
  }
}
for (const dir of ['unit', 'integration', 'interop', 'e2e']) {
  const d = path.join(root, 'dist', 'test', dir)
  try {
    walk(d)
  } catch {}
}
// filters match the path inside the repository, so a checkout's own path (a worktree's name) never matches
const selected = only.length ? files.filter((f) => only.some((o) => path.relative(root, f).includes(o))) : files
const child = spawn(process.execPath, ['--test', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 3}`, '--test-timeout=300000', ...selected], {cwd: root, stdio: 'inherit'})
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
