// The gateway ↔ storage-node link: one long-lived exec channel `stripe-link` on the node's admin endpoint,
// opened as user `cluster` with the gateway's cluster key. JSON lines both ways: the gateway sends requests
// with ids; the node answers each with events (`listening`, `opened`, inventory pieces) and one result or
// error. Several requests run at once on one link; `cancel` stops a transfer (ABOR, a failed chain).

/** The exec command name that opens the link (only the `cluster` actor may open it). */
export const STRIPE_LINK_COMMAND = 'stripe-link'

/** Where a node's data connection goes. `connect` is active mode (the client's vetted address), the gateway's
 *  relay socket, or another node; `listen` is PRET passive (in the node's PASV range) or node-to-node. A token
 *  (32 hex) is written first by the connecting side and checked by the listening one; clients get none. */
export type DataEndpoint =
  | {connect: {host: string; port: number; token?: string}}
  | {listen: {peer: string; token?: string; pasv?: boolean}}
  /** A port opened earlier by `listen` (PRET: the PASV reply comes before the transfer verb). */
  | {accepted: number}

export interface SendArgs {
  path: string
  offset: number
  endpoint: DataEndpoint
  /** The node is the TLS server of the data connection and requires resumption of the client's session. */
  tls: boolean
}

export interface ReceiveArgs {
  path: string
  /** Bytes of the current piece kept (REST+STOR, APPE). */
  offset: number
  endpoint: DataEndpoint
  tls: boolean
  /** The next node of the replication chain: the bytes are forwarded while they arrive. */
  forward?: {host: string; port: number; token: string}
  owner: string
  mtimeMs?: number
  generation: number
  /** After the EOF and fsync of the part file, report `received` and wait for `commit` (or `cancel`): every
   *  replica is compared before any of them replaces the old piece. */
  twoPhase?: boolean
}

export interface LinkRequest {
  id: number
  op: string
  args: Record<string, unknown>
}

export type LinkEvent = {listening: number} | {opened: true} | {received: {size: number; sha256: string}} | {piece: import('./contract.js').PieceInfo}

export type LinkReply =
  | {id: number; event: LinkEvent}
  | {id: number; result: unknown}
  | {id: number; error: {message: string; kind?: string}}
