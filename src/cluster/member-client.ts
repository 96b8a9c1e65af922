// One way for a node to reach another member's admin endpoint: as user `cluster` with its own cluster key,
// from its own bind address (the one the other side's IP filter allows), with the registered host key pinned.
import {AdminClient} from '../protocol/admin-client.js'
import {CLUSTER_SSH_USER, OperationError, formatHostPort} from '../protocol/index.js'

export interface MemberTarget {
  host: string
  port: number
  /** The pinned SHA256 fingerprint of its admin host key. */
  fingerprint: string
}

export function connectAsMember(clusterPrivateKey: string, localAddress: string, target: MemberTarget, timeoutMs = 5000, keepalive?: {intervalMs: number; countMax: number}): Promise<AdminClient> {
  return AdminClient.connect({
    keepalive,
    host: target.host,
    port: target.port,
    credentials: {username: CLUSTER_SSH_USER, privateKey: clusterPrivateKey},
    localAddress,
    timeoutMs,
    checkHostKey: (fp) => {
      if (fp !== target.fingerprint) {
        throw new OperationError('host-key', `host key of ${formatHostPort(target.host, target.port)} changed: pinned ${target.fingerprint}, presented ${fp}`, 'if the node was re-initialised, remove it and add it again')
      }
    },
  })
}
