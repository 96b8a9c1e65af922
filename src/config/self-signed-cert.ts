// A self-signed X.509 certificate (ECDSA P-256, SHA-256) for FTPS, built with Node's crypto and a minimal
// DER encoder, so `node init` needs no openssl binary.
import {generateKeyPairSync, randomBytes, sign} from 'node:crypto'

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}
function tlv(tag: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(body.length), body])
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items))
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items))
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number)
  const out = [40 * a + b]
  for (const n of rest) {
    const chunk: number[] = [n & 0x7f]
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80)
    out.push(...chunk)
  }
  return tlv(0x06, Buffer.from(out))
}
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'))
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso))
}
/** A non-negative DER INTEGER: minimal (DER forbids redundant leading zeros: OpenSSL refuses them as "illegal padding"). */
export function derInteger(bytes: Buffer): Buffer {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const b = bytes.subarray(start)
  return tlv(0x02, b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b)
}

/** Returns PEM certificate and PKCS#8 private key, valid for `days` from now, for `commonName`. */
export function selfSignedCertificate(commonName: string, days = 3650): {cert: string; key: string} {
  const {privateKey, publicKey} = generateKeyPairSync('ec', {namedCurve: 'prime256v1'})
  const spki = publicKey.export({type: 'spki', format: 'der'})
  const sigAlg = seq(oid('1.2.840.10045.4.3.2'))
  const name = seq(set(seq(oid('2.5.4.3'), utf8(commonName))))
  const now = new Date()
  const notBefore = new Date(now.getTime() - 3600_000)
  const notAfter = new Date(now.getTime() + days * 86_400_000)
  const serial = randomBytes(16)
  serial[0] &= 0x7f
  const basicConstraints = seq(oid('2.5.29.19'), tlv(0x04, seq()))
  const extensions = tlv(0xa3, seq(basicConstraints))
  const tbs = seq(
    tlv(0xa0, derInteger(Buffer.from([2]))), // v3
    derInteger(serial),
    sigAlg,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    extensions,
  )
  const signature = sign('sha256', tbs, privateKey)
  const der = seq(tbs, sigAlg, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])))
  const b64 = der.toString('base64').match(/.{1,64}/g)!.join('\n')
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({type: 'pkcs8', format: 'pem'}).toString(),
  }
}
