// The SSH algorithms every endpoint of the daemon offers: no NIST curves, no SHA-1 (ssh-audit: no failures).
// A client takes its own first choice among what we offer, and OpenSSH's own order is chacha20-poly1305, then
// aes-ctr, then aes-gcm: without chacha20 a default `sftp`/`scp` got aes128-ctr + HMAC-SHA-256, the dearest
// here (bench/sftp-throughput, one stream, our CPU per GiB: download 2.92 s ctr, 2.04 gcm, 1.88 chacha20;
// upload 4.72, 4.04, 3.88). chacha20-poly1305 is offered first (ssh2 runs it natively; Terrapin is answered by
// strict key exchange, which ssh2 offers); AES-GCM next for clients that prefer it. The encrypt-and-MAC SHA-2
// MACs stay (an ssh-audit warning only) because libssh2 < 1.11 — curl's SFTP on Debian 12 — knows no ETM MACs
// nor GCM.
import type ssh2 from 'ssh2'

export type Ssh2Algorithms = ConstructorParameters<typeof ssh2.Server>[0]['algorithms']

export const SSH_ALGORITHMS = {
  kex: [
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'diffie-hellman-group-exchange-sha256',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
    'diffie-hellman-group14-sha256',
  ],
  cipher: ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
  compress: ['none'],
} as unknown as Ssh2Algorithms
