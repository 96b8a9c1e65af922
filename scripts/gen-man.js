#!/usr/bin/env node
// Generates man/*.1 (one page per command) from oclif.manifest.json; cluster-node.8 is written by hand.
import {mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))
const manifest = JSON.parse(readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8'))
const outDir = path.join(root, 'man')
// No build date: a build must not rewrite tracked pages (SOURCE_DATE_EPOCH, when a packager sets it, gives one).
const date = process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString().slice(0, 7) : ""
const bin = pkg.oclif.bin

const esc = (s) => String(s ?? '').replace(/\\/g, '\\\\').replace(/^([.'])/gm, '\\&$1').replace(/-/g, '\\-')
const render = (s) => esc(String(s ?? '').replace(/<%= config.bin %>/g, bin).replace(/<%= command.id %>/g, ''))

function flagLine(name, f) {
  const short = f.char ? `\\fB\\-${f.char}\\fR, ` : ''
  const value = f.type === 'option' ? ` \\fI${esc(f.helpValue ?? name.toUpperCase())}\\fR` : ''
  return `.TP\n${short}\\fB\\-\\-${esc(name)}\\fR${value}\n${esc(f.summary ?? f.description ?? '')}${f.default !== undefined && f.type === 'option' ? ` (default: ${esc(f.default)})` : ''}\n`
}

function page(cmd) {
  const words = cmd.id.split(':')
  const name = `${bin}-${words.join('-')}`
  const usageArgs = Object.entries(cmd.args ?? {}).map(([a, d]) => (d.required ? a.toUpperCase() : `[${a.toUpperCase()}]`)).join(' ')
  let out = `.TH ${name.toUpperCase()} 1 "${date}" "${pkg.name} ${pkg.version}" "User Commands"\n`
  out += `.SH NAME\n${esc(name)} \\- ${esc(cmd.summary ?? '')}\n`
  out += `.SH SYNOPSIS\n\\fB${bin} ${esc(words.join(' '))}\\fR ${esc(usageArgs)} [\\fIFLAGS\\fR]\n`
  out += `.SH DESCRIPTION\n${esc(cmd.description ?? cmd.summary ?? '')}\n`
  const args = Object.entries(cmd.args ?? {})
  if (args.length) out += `.SH ARGUMENTS\n` + args.map(([a, d]) => `.TP\n\\fI${a.toUpperCase()}\\fR\n${esc(d.description ?? '')}\n`).join('')
  const flags = Object.entries(cmd.flags ?? {}).filter(([, f]) => !f.hidden)
  const own = flags.filter(([, f]) => f.helpGroup !== 'GLOBAL')
  const global = flags.filter(([, f]) => f.helpGroup === 'GLOBAL')
  if (own.length) out += `.SH OPTIONS\n` + own.map(([n, f]) => flagLine(n, f)).join('')
  if (global.length) out += `.SH GLOBAL OPTIONS\n` + global.map(([n, f]) => flagLine(n, f)).join('')
  const examples = (cmd.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command))
  if (examples.length) out += `.SH EXAMPLES\n` + examples.map((e) => `.PP\n.nf\n.RS\n${render(e).replace(/\s+$/, '').replace(new RegExp(`^${bin}\\s+`), `${bin} ${words.join(' ')} `)}\n.RE\n.fi\n`).join('')
  out += `.SH ENVIRONMENT\n.TP\nCLUSTER_PRIMARY, CLUSTER_USER, CLUSTER_PASSWORD, CLUSTER_KEY_FILE\nconnection to the primary (see \\fBcluster\\fR(1))\n.TP\nCLUSTER_CONFIG_DIR\nwhere contexts and known host keys are kept\n.TP\nNO_COLOR, CI\nno colour; no prompts\n`
  out += `.SH EXIT STATUS\n0 done; 1 the operation failed; 2 usage error; 3 a check found a problem.\n`
  out += `.SH SEE ALSO\n\\fBcluster\\fR(1), \\fBcluster\\-node\\fR(8)\n`
  return {name, out}
}

mkdirSync(outDir, {recursive: true})
for (const f of readdirSync(outDir)) if (f.endsWith('.1')) rmSync(path.join(outDir, f))
const commands = Object.values(manifest.commands).filter((c) => !c.hidden).sort((a, b) => a.id.localeCompare(b.id))
for (const cmd of commands) {
  const {name, out} = page(cmd)
  writeFileSync(path.join(outDir, `${name}.1`), out)
}
let index = `.TH CLUSTER 1 "${date}" "${pkg.name} ${pkg.version}" "User Commands"\n.SH NAME\ncluster \\- administer a cluster of secure file servers\n.SH SYNOPSIS\n\\fBcluster\\fR \\fICOMMAND\\fR [\\fIFLAGS\\fR]\n.SH DESCRIPTION\n${esc(pkg.description)}\n.PP\nCommands that act on the cluster talk to the primary's admin endpoint, found from \\-\\-primary, CLUSTER_PRIMARY or the current context (port 14983 by default). The admin password comes from CLUSTER_PASSWORD, \\-\\-password\\-stdin, the context's key, or a prompt on a terminal.\n.SH COMMANDS\n`
for (const cmd of commands) index += `.TP\n\\fB${bin} ${esc(cmd.id.split(':').join(' '))}\\fR\n${esc(cmd.summary ?? '')} See \\fB${bin}\\-${esc(cmd.id.split(':').join('-'))}\\fR(1).\n`
index += `.SH EXIT STATUS\n.TP\n0\ndone / all checks pass\n.TP\n1\nthe operation failed (unreachable, refused, authentication, conflict); the message says why and what to do\n.TP\n2\nusage error: unknown flag, missing or malformed argument\n.TP\n3\na check ran and found a problem (health, sync check, diagnose, config diff)\n.SH SEE ALSO\n\\fBcluster\\-node\\fR(8)\n`
writeFileSync(path.join(outDir, 'cluster.1'), index)
console.log(`wrote ${commands.length + 1} man pages to man/`)
