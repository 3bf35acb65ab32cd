import { z } from 'zod';
import type { AlertChannel, ChannelContext, ChannelKind } from './channel.js';
import { emailChannelKind } from './email-channel.js';
import { webhookChannelKind } from './webhook-channel.js';

/** Every channel kind restore-drill knows; adding one is a module plus a line here. */
const KINDS = [webhookChannelKind, emailChannelKind] as const;

function indexKinds(kinds: readonly ChannelKind[]): ReadonlyMap<string, ChannelKind> {
  const byName = new Map<string, ChannelKind>();
  for (const kind of kinds) {
    if (byName.has(kind.kind)) throw new Error(`channel kind '${kind.kind}' is registered twice`);
    byName.set(kind.kind, kind);
  }
  return byName;
}

const byName = indexKinds(KINDS as unknown as readonly ChannelKind[]);

export const channelKindNames: readonly string[] = [...byName.keys()];

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
  const found = byName.get(kind);
  if (!found)
    throw new Error(
      `'${kind}' is not a channel kind; expected one of ${channelKindNames.map((n) => `'${n}'`).join(', ')}`,
    );
  return found;
}

/** Builds the channel named `name` from its config. */
export function createChannel(
  name: string,
  config: ChannelConfig,
  context: Omit<ChannelContext, 'name'>,
): AlertChannel {
  return getChannelKind(config.kind).create(config as never, { ...context, name });
}
