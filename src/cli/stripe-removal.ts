// `cluster stripe remove-node` as steps: plan on the gateway (refused up front when the other nodes cannot hold
// the files), mark the node draining on the primary, let the gateway move its files (progress), and only then
// take it out of the configuration. An interrupted run leaves it draining; a re-run continues.
import type {AdminClient} from '../protocol/admin-client.js'
import {OperationError, formatHostPort, type StripeDrainReport, type StripeRemoveNodeRequest, type StripeRemoveNodeResult} from '../protocol/index.js'
import type {StripeNode} from '../config/schema.js'
import {editConfig} from './config-edit.js'
import {dropStripeNode, markDraining} from './stripe-edit.js'

export interface RemovalIo {
  /** Runs an exec action on a client, showing its progress on stderr. */
  run<R>(client: AdminClient, command: string, args: object): Promise<R>
  /** A note for people (stderr or stdout, never under --json). */
  note(text: string): void
}

const LISTED = 10

export async function removeStripeNode(primary: AdminClient, gateway: AdminClient, node: StripeNode, force: boolean, io: RemovalIo): Promise<StripeRemoveNodeResult> {
  const at = formatHostPort(node.host, node.port)
  const request: StripeRemoveNodeRequest = {host: node.host, port: node.port, force}
  const plan = await gateway.exec<StripeDrainReport>('stripe-remove-node', {...request, dryRun: true})
  io.note(`${at} holds ${plan.files} file(s): ${plan.copies} copies to make on the other nodes${plan.lostCount ? `, ${plan.lostCount} with no other copy` : ''}`)
  if (node.state !== 'draining') await editConfig(primary, (c) => markDraining(c, node.nodeId), `stripe remove-node ${at}: draining`)
  const drain = await io.run<StripeDrainReport>(gateway, 'stripe-remove-node', request)
  if (!drain.complete) {
    throw new OperationError('refused', `${at} is not drained yet (${drain.failed} copies failed, ${drain.busy} files busy with transfers); it stays draining and takes no new files`, `see the gateway's log, then run \`cluster stripe remove-node ${at}${force ? ' --force' : ''}\` again`)
  }
  const config = await editConfig(primary, (c) => dropStripeNode(c, node.nodeId), `stripe remove-node ${at}`)
  const result: StripeRemoveNodeResult = {node: at, removed: true, revision: config.revision, drain}
  if (drain.unavailableCount > 0) io.note(`${drain.unavailableCount} file(s) have their other copies only on nodes that are down; they are readable again when those nodes return`)
  if (drain.lostCount > 0) {
    const list = drain.lost.slice(0, LISTED).join(', ') + (drain.lostCount > LISTED ? `, … (${drain.lostCount - LISTED} more)` : '')
    throw new OperationError('refused', `${at} was removed, but ${drain.lostCount} file(s) had no copy on any other node and are LOST: ${list}`, `if its disk can be recovered, add it back with \`cluster stripe add-node ${at}\` (its copies are then remerged); otherwise delete those files through the gateway`)
  }
  return result
}
