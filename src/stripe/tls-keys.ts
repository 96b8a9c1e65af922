// FTPS across machines: in active mode a storage node is the TLS server of a data connection whose control
// session lives on the gateway, and our FTPS requires the data connection to resume that session. Every
// stripe TLS context therefore carries the same session-ticket keys (48 bytes), derived from the cluster's
// FTPS private key (a secret every member already holds through config sync): they are the same on every
// node and change when the primary rotates the FTPS key.
import {hkdfSync} from 'node:crypto'
import type {SecureContext} from 'node:tls'
import type {ClusterConfig} from '../config/schema.js'
import {createFtpTlsContext} from '../daemon/ftp/tls-context.js'

export function ticketKeys(config: ClusterConfig): Buffer {
  return Buffer.from(hkdfSync('sha256', config.serviceIdentity.tlsKey, config.clusterId, 'ftpcluster stripe tls ticket keys', 48))
}

/** The FTPS context of the gateway and of every storage node's data connections. */
export function stripeTlsContext(config: ClusterConfig): SecureContext {
  const id = config.serviceIdentity
  const context = createFtpTlsContext(id.tlsCert, id.tlsKey)
  ;(context as SecureContext & {context: {setTicketKeys(keys: Buffer): void}}).context.setTicketKeys(ticketKeys(config))
  return context
}
