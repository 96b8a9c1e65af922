// Passwords are stored only as scrypt hashes: scrypt$N$r$p$salt$hash (base64).
import {randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions} from 'node:crypto'

const N = 16384
const R = 8
const P = 1
const KEYLEN = 32

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scrypt(password, salt, KEYLEN, {N, r: R, p: P, maxmem: 64 * 1024 * 1024})
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`
}

// A hash of a random password: verifying against it costs the same as a real check, so an unknown user
// takes as long to refuse as a wrong password.
let dummyHash: Promise<string> | undefined
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'))
  return dummyHash
}

export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const target = stored ?? (await dummyPasswordHash())
  const parts = target.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = parts.slice(1, 4).map(Number)
  const salt = Buffer.from(parts[4], 'base64')
  const expected = Buffer.from(parts[5], 'base64')
  if (n > 1 << 20 || r > 32 || p > 16) return false // refuse hashes that would exhaust memory or CPU
  const key = await scrypt(password, salt, expected.length, {N: n, r, p, maxmem: 256 * 1024 * 1024})
  return key.length === expected.length && timingSafeEqual(key, expected) && stored != null
}
