// TLS for the control and data connections: one SecureContext per certificate, TLS 1.2 minimum, and data
// connections that must resume the control connection's session (vsftpd require_ssl_reuse).
import type {Socket} from 'node:net'
import {setImmediate as turn} from 'node:timers/promises'
import {TLSSocket, createSecureContext, type SecureContext} from 'node:tls'

export function createFtpTlsContext(cert: string, key: string): SecureContext {
  return createSecureContext({cert, key, minVersion: 'TLSv1.2'})
}

/**
 * True when the client's first bytes (its ClientHello) already wait on the data connection. The read was
 * started when the connection arrived (DataChannel); two turns of the event loop let one more poll see bytes
 * that were sent before the command that uses the connection.
 */
export async function clientSpokeFirst(raw: Socket): Promise<boolean> {
  for (let i = 0; i < 2 && raw.readableLength === 0 && !raw.destroyed; i++) await turn()
  return raw.readableLength > 0
}

/**
 * Wraps a data connection in TLS as the server; resolves when the handshake has completed. Whether it resumed
 * the control connection's session (`isSessionReused()`) is for the caller to judge. A client that closes
 * before its Finished arrived is refused at once rather than at the timeout.
 */
export function secureDataSocket(raw: Socket, context: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  const tls = new TLSSocket(raw, {isServer: true, secureContext: context})
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      clearTimeout(timer)
      tls.off('end', early).off('close', early)
      tls.destroy()
      reject(error)
    }
    const early = () => fail(new Error('the client closed the data connection before the TLS handshake completed'))
    const timer = setTimeout(() => fail(new Error('data TLS handshake timed out')), timeoutMs)
    tls.once('error', fail)
    tls.once('end', early)
    tls.once('close', early)
    tls.once('secure', () => {
      clearTimeout(timer)
      tls.off('error', fail).off('end', early).off('close', early)
      tls.on('error', () => {}) // later errors surface through the transfer's own handlers
      resolve(tls)
    })
  })
}

/**
 * Closes a refused data connection so the client reads a clean end (close_notify) instead of a reset: our side
 * ends at once, what the client still sends (an upload it started at the 150) is read and dropped until its own
 * end, or until it has been quiet for `idleMs`. A client whose write failed would never read the reply to
 * its command, and would take it as the reply to the next one.
 */
export function discardUntilEnd(tls: TLSSocket, idleMs: number): Promise<void> {
  return new Promise((resolve) => {
    let timer = setTimeout(() => tls.destroy(), idleMs)
    tls.on('data', () => {
      clearTimeout(timer)
      timer = setTimeout(() => tls.destroy(), idleMs)
    })
    tls.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
    tls.end()
  })
}
