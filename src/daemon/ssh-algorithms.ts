// The SSH algorithms every endpoint of the daemon offers: no NIST curves, no SHA-1 (ssh-audit: no failures);
// AES-GCM first because AES hardware makes it the cheapest here. The encrypt-and-MAC SHA-2 MACs stay (an
// ssh-audit warning only) because libssh2 < 1.11 — curl's SFTP on Debian 12 — knows no ETM MACs nor GCM.
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
  cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
  compress: ['none'],
} as unknown as Ssh2Algorithms
