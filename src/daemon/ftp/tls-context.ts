// TLS for the control and data connections: one SecureContext per certificate, TLS 1.2 minimum, and data
// connections that must resume the control connection's session (vsftpd require_ssl_reuse).
import type {Socket} from 'node:net'
import {TLSSocket, createSecureContext, type SecureContext} from 'node:tls'

export function createFtpTlsContext(cert: string, key: string): SecureContext {
  return createSecureContext({cert, key, minVersion: 'TLSv1.2'})
}

/**
 * Wraps a data connection in TLS as the server. With `requireReuse`, a handshake that did not resume a
 * session issued by this context is refused: a third party cannot inject data without the control session.
 */
export function secureDataSocket(raw: Socket, context: SecureContext, timeoutMs: number, requireReuse: boolean): Promise<TLSSocket> {
  const tls = new TLSSocket(raw, {isServer: true, secureContext: context})
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      clearTimeout(timer)
      tls.destroy()
      reject(error)
    }
    const timer = setTimeout(() => fail(new Error('data TLS handshake timed out')), timeoutMs)
    tls.once('error', fail)
    tls.once('secure', () => {
      clearTimeout(timer)
      tls.off('error', fail)
      tls.on('error', () => {}) // later errors surface through the transfer's own handlers
      if (requireReuse && !tls.isSessionReused()) fail(new Error('data connection did not reuse the control TLS session'))
      else resolve(tls)
    })
  })
}
