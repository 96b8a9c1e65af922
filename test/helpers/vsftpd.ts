// vsftpd as the reference FTP server of parity and interop tests: standalone, as root, anonymous with write
// access below <root>/pub (its own rule: the anonymous root itself must not be writable), bound to one loopback
// address, optionally with TLS (explicit AUTH TLS, or implicit) and require_ssl_reuse.
import assert from 'node:assert/strict'
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync} from 'node:fs'
import {connect} from 'node:net'
import path from 'node:path'
import {connect as tlsConnect} from 'node:tls'
import {selfSignedCertificate} from '../../src/config/self-signed-cert.js'
import {needs} from './tools.js'

export const VSFTPD = '/usr/sbin/vsftpd'

/** A `skip` option for node:test when vsftpd is not installed. */
export function needsVsftpd(): string | false {
  return existsSync(VSFTPD) ? false : needs('vsftpd')
}

export interface VsftpdOptions {
  /** A directory of the test's own, removed by the test. */
  work: string
  bind: string
  port: number
  pasvMin: number
  pasvMax: number
  /** TLS with require_ssl_reuse=YES; `implicit` for TLS from the first byte. */
  tls?: 'explicit' | 'implicit'
  /** Extra vsftpd.conf lines. */
  extra?: string[]
}

export interface Vsftpd {
  /** The anonymous user's writable directory (clients work below /pub). */
  pub: string
  log(): string
  stop(): void
}

/** Resolves once `host:port` sends a 220 greeting; rejects when the deadline passes or the server exits. */
export async function waitForGreeting(host: string, port: number, child: ChildProcess, deadlineMs: number, tls = false): Promise<void> {
  const until = Date.now() + deadlineMs
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited with ${child.exitCode ?? child.signalCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = tls ? tlsConnect({host, port, rejectUnauthorized: false}) : connect({host, port})
      const timer = setTimeout(() => {
        s.destroy()
        resolve(false)
      }, 1000)
      s.setEncoding('utf8')
      s.once('data', (d: string) => {
        clearTimeout(timer)
        s.destroy()
        resolve(d.startsWith('220'))
      })
      s.once('error', () => {
        clearTimeout(timer)
        resolve(false)
      })
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`no 220 greeting on ${host}:${port} within ${deadlineMs} ms`)
}

export async function startVsftpd(o: VsftpdOptions): Promise<Vsftpd> {
  const name = `vsftpd-${o.port}`
  const root = path.join(o.work, `${name}-root`)
  const pub = path.join(root, 'pub')
  const empty = path.join(o.work, `${name}-empty`)
  mkdirSync(pub, {recursive: true})
  mkdirSync(empty, {recursive: true})
  spawnSync('chmod', ['755', o.work, root, empty])
  spawnSync('chown', ['root:root', root, empty])
  // the package creates the `ftp` account; a machine without it still works with `nobody`
  const ftpUser = spawnSync('id', ['-u', 'ftp']).status === 0 ? 'ftp' : 'nobody'
  const chown = spawnSync('chown', [`${ftpUser}:`, pub])
  assert.equal(chown.status, 0, `chown ${ftpUser}: ${pub}: ${chown.stderr}`)
  const lines = [
    'listen=YES', 'listen_ipv6=NO', `listen_address=${o.bind}`, `listen_port=${o.port}`, 'background=NO',
    'anonymous_enable=YES', 'local_enable=NO', 'write_enable=YES', 'anon_upload_enable=YES', 'anon_mkdir_write_enable=YES',
    'anon_other_write_enable=YES', `anon_root=${root}`, 'no_anon_password=YES', 'anon_umask=022', `ftp_username=${ftpUser}`,
    `secure_chroot_dir=${empty}`, `pasv_min_port=${o.pasvMin}`, `pasv_max_port=${o.pasvMax}`, `pasv_address=${o.bind}`,
    'seccomp_sandbox=NO', 'xferlog_enable=NO', 'dirmessage_enable=NO', 'connect_from_port_20=NO', 'max_per_ip=0', 'max_clients=0',
  ]
  if (o.tls) {
    const tls = selfSignedCertificate('vsftpd-reference', 2)
    const cert = path.join(o.work, `${name}.pem`)
    writeFileSync(cert, tls.cert + tls.key, {mode: 0o600})
    lines.push(
      'ssl_enable=YES', 'allow_anon_ssl=YES', 'force_anon_logins_ssl=YES', 'force_anon_data_ssl=YES', 'require_ssl_reuse=YES',
      'ssl_tlsv1=YES', 'ssl_sslv2=NO', 'ssl_sslv3=NO', 'ssl_ciphers=HIGH', `rsa_cert_file=${cert}`, `rsa_private_key_file=${cert}`,
      `implicit_ssl=${o.tls === 'implicit' ? 'YES' : 'NO'}`,
    )
  }
  const conf = path.join(o.work, `${name}.conf`)
  const logFile = path.join(o.work, `${name}.log`)
  writeFileSync(conf, [...lines, ...(o.extra ?? []), ''].join('\n'))
  const logFd = openSync(logFile, 'w')
  // vsftpd reports a fatal start-up error ("500 OOPS: …") on fd 0, its would-be control connection
  const child = spawn(VSFTPD, [conf], {stdio: [logFd, logFd, logFd], detached: true})
  closeSync(logFd)
  const stop = () => {
    // the listener and its per-session children share the process group
    if (child.pid !== undefined && child.exitCode === null) try { process.kill(-child.pid, 'SIGKILL') } catch { /* already gone */ }
  }
  try {
    await waitForGreeting(o.bind, o.port, child, 5000, o.tls === 'implicit')
  } catch (error) {
    stop()
    assert.fail(`vsftpd did not start (${(error as Error).message}); its log:\n${readFileSync(logFile, 'utf8')}`)
  }
  return {pub, log: () => readFileSync(logFile, 'utf8'), stop}
}
