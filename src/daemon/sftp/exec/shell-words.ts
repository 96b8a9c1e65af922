// Splits an exec request's command line the way a POSIX shell splits simple words (quotes and backslashes),
// without running a shell: what clients send (rclone escapes with backslashes, scp passes paths as typed).

/** Characters that would need a real shell (pipes, redirections, substitutions, lists). */
const SHELL_ONLY = new Set([';', '|', '&', '<', '>', '(', ')', '$', '`'])

export class ShellSyntaxError extends Error {}

export function shellWords(line: string): string[] {
  const words: string[] = []
  let word: string | null = null
  const add = (s: string) => (word = (word ?? '') + s)
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === ' ' || c === '\t' || c === '\n') {
      if (word !== null) words.push(word)
      word = null
    } else if (c === '\\') {
      i += 1
      if (i >= line.length) throw new ShellSyntaxError('the command ends with a lone backslash')
      if (line[i] !== '\n') add(line[i]) // backslash-newline is a line continuation
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) throw new ShellSyntaxError('unterminated single quote')
      add(line.slice(i + 1, end))
      i = end
    } else if (c === '"') {
      let s = ''
      for (i += 1; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1])) {
          i += 1
          if (line[i] !== '\n') s += line[i]
        } else if (line[i] === '$' || line[i] === '`') {
          throw new ShellSyntaxError(`"${line[i]}" inside double quotes needs a shell`)
        } else {
          s += line[i]
        }
      }
      if (i >= line.length) throw new ShellSyntaxError('unterminated double quote')
      add(s)
    } else if (SHELL_ONLY.has(c)) {
      throw new ShellSyntaxError(`"${c}" needs a shell`)
    } else {
      add(c)
    }
  }
  if (word !== null) words.push(word)
  return words
}
