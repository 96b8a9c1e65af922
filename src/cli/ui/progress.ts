// Progress of long operations on stderr: a spinner line on a terminal, one line per step otherwise.
import {painter} from './style.js'

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

/** `--quiet`: no progress at all. */
let quietAll = false
export function setQuiet(quiet: boolean): void {
  quietAll = quiet
}

export class Progress {
  private timer: NodeJS.Timeout | undefined
  private frame = 0
  private text = ''
  private readonly tty = Boolean(process.stderr.isTTY)
  private readonly p = painter(process.stderr)

  private readonly quiet: boolean

  constructor(quiet = false) {
    this.quiet = quiet || quietAll
  }

  step(text: string): void {
    if (this.quiet) return
    this.text = text
    if (!this.tty) return void process.stderr.write(`… ${text}\n`)
    this.timer ??= setInterval(() => this.draw(), 80)
    this.draw()
  }

  done(text: string, ok = true): void {
    if (this.quiet) return
    this.stopTimer() // a done line ends the spinner: no timer may outlive it (demo Ctrl-C, issue 13)
    this.clear()
    process.stderr.write(`${ok ? this.p.ok('✔') : this.p.bad('✖')} ${text}\n`)
  }

  stop(): void {
    this.stopTimer()
    this.clear()
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  private draw(): void {
    this.frame = (this.frame + 1) % FRAMES.length
    process.stderr.write(`\r\x1b[2K${FRAMES[this.frame]} ${this.text}`)
  }

  private clear(): void {
    if (this.tty && this.text) process.stderr.write('\r\x1b[2K')
  }
}
