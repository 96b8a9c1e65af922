// Prompts only for a person at a terminal: never when stdin is not a TTY, with --yes, or when CI is set.
export function interactive(yes = false): boolean {
  return Boolean(process.stdin.isTTY) && !yes && !process.env.CI
}

export async function promptPassword(message: string): Promise<string> {
  const {default: inquirer} = await import('inquirer')
  const answer = await inquirer.prompt<{value: string}>([{type: 'password', name: 'value', message, mask: '*'}])
  return answer.value
}

export async function promptInput(message: string, defaultValue?: string): Promise<string> {
  const {default: inquirer} = await import('inquirer')
  const answer = await inquirer.prompt<{value: string}>([{type: 'input', name: 'value', message, default: defaultValue}])
  return answer.value
}

export async function confirm(message: string): Promise<boolean> {
  const {default: inquirer} = await import('inquirer')
  const answer = await inquirer.prompt<{value: boolean}>([{type: 'confirm', name: 'value', message, default: false}])
  return answer.value
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
