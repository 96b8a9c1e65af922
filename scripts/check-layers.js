#!/usr/bin/env node
// The layering rule of style.md: src/daemon never imports src/cli or src/commands; src/cli never imports
// src/daemon; src/protocol imports nothing of ours. The one exception: commands/node/start.ts → daemon/main.
import {readFileSync, readdirSync, statSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const src = path.join(root, 'src')
const files = []
const walk = (d) => readdirSync(d).forEach((n) => (statSync(path.join(d, n)).isDirectory() ? walk(path.join(d, n)) : n.endsWith('.ts') && files.push(path.join(d, n))))
walk(src)

const layer = (file) => path.relative(src, file).split(path.sep)[0]
const rules = {
  daemon: ['cli', 'commands'],
  cli: ['daemon', 'commands'],
  protocol: ['cli', 'commands', 'daemon', 'config', 'cluster', 'net'], // ssh2 only
  config: ['cli', 'commands', 'daemon'],
  net: ['cli', 'commands', 'daemon'],
  cluster: ['cli', 'commands'],
  stripe: ['cli', 'commands'], // the striped cluster's room: may use the daemon's FTP pieces, never the CLI
}
const problems = []
for (const file of files) {
  const from = layer(file)
  const text = readFileSync(file, 'utf8')
  for (const m of text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = layer(path.resolve(path.dirname(file), m[1]))
    const rel = path.relative(root, file)
    if (rel === path.join('src', 'commands', 'node', 'start.ts') && m[1].includes('daemon/main')) continue
    if (from === 'commands' && target === 'daemon') problems.push(`${rel}: commands may not import the daemon (${m[1]})`)
    if ((rules[from] ?? []).includes(target)) problems.push(`${rel}: ${from}/ may not import ${target}/ (${m[1]})`)
  }
}
if (problems.length) {
  console.error(problems.join('\n'))
  console.error(`${problems.length} layering violation(s); see ../shared/design/style.md "Our layout"`)
  process.exit(1)
}
console.log(`layers ok (${files.length} files)`)
