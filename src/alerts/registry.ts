import { z } from 'zod';
import { KindRegistry } from '../model/registry.js';
import type { AlertChannel, ChannelContext, ChannelKind } from './channel.js';
import { emailChannelKind } from './email-channel.js';
import { webhookChannelKind } from './webhook-channel.js';

/** Every channel kind restore-drill knows; adding one is a module plus a line here. */
const KINDS = [webhookChannelKind, emailChannelKind] as const;

const registry = new KindRegistry<ChannelKind>(
  'channel',
  KINDS as unknown as readonly ChannelKind[],
);

export const channelKindNames: readonly string[] = registry.names;

/** One entry of `alerts.channels`: one of the registered kinds, told apart by `kind`. */
export const channelConfigSchema = z
  .discriminatedUnion(
    'kind',
    KINDS.map((kind) => kind.configSchema) as unknown as [
      (typeof KINDS)[number]['configSchema'],
      ...(typeof KINDS)[number]['configSchema'][],
    ],
  )
  .describe(`Where alerts go. kind: ${channelKindNames.join(', ')}.`);

export type ChannelConfig = z.output<typeof channelConfigSchema>;

export function getChannelKind(kind: string): ChannelKind {
  return registry.get(kind);
}

/** Builds the channel named `name` from its config. */
export function createChannel(
  name: string,
  config: ChannelConfig,
  context: Omit<ChannelContext, 'name'>,
): AlertChannel {
  return getChannelKind(config.kind).create(config as never, { ...context, name });
}
