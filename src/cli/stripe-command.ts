// The base of `cluster stripe …`: configuration changes go to the primary; catalogue operations follow
// `stripe.gateway` from the primary's configuration to the gateway, which holds the catalogue.
import type {Command} from '@oclif/core'
import type {ClusterConfig} from '../config/schema.js'
import type {AdminClient} from '../protocol/admin-client.js'
import {OperationError} from '../protocol/index.js'
import {ClusterCommand} from './cluster-command.js'
import {readConfig} from './config-edit.js'

export abstract class StripeCommand<T extends typeof Command> extends ClusterCommand<T> {
  /** An admin connection to the gateway, found through the primary. */
  protected async gatewayClient(): Promise<{client: AdminClient; config: ClusterConfig}> {
    const primary = this.primaryTarget()
    return this.gatewayFrom(await this.connect(primary), primary)
  }

  /** The same, from a connection to the primary the command already has (reused when it is the gateway). */
  protected async gatewayFrom(first: AdminClient, primary: {host: string; port: number}): Promise<{client: AdminClient; config: ClusterConfig}> {
    const config = await readConfig(first)
    const g = config.stripe.gateway
    if (!config.stripe.enabled || !g) throw new OperationError('refused', 'the striped cluster is not enabled', 'enable it with `cluster stripe enable HOST`')
    if (g.host === primary.host && g.port === primary.port) return {client: first, config}
    return {client: await this.connect({host: g.host, port: g.port}), config}
  }
}
