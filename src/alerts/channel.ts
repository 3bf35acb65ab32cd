import type { z } from 'zod';
import type { Logger } from '../log/logger.js';
import type { AlertMessage } from './message.js';

/**
 * How one send ended. A channel never throws for a failed send: the failure has
 * the same shape as the success (execa's `reject: false`), and the delivery log
 * records either. `permanent` failures (a 404 webhook, a rejected mailbox) are not
 * retried; transient ones (a refused connection, a 503, a timeout) are.
 */
export type DeliveryResult =
  | {
      ok: true;
      /** What the receiver said, e.g. `HTTP 200` or `250 2.0.0 queued`. */ detail: string;
      durationMs: number;
    }
  | {
      ok: false;
      /** One line, free of secrets, saying what went wrong. */
      error: string;
      permanent: boolean;
      /** The receiver asked to wait this long before the next try (HTTP Retry-After). */
      retryAfterMs?: number | undefined;
      durationMs: number;
    };

/** Options every send takes. */
export interface SendOptions {
  /** Aborts the send (shutdown); the result is then a transient failure. */
  signal?: AbortSignal | undefined;
}

/**
 * One configured place alerts go: a webhook, a mailbox. One module per kind
 * implements it; `registry.ts` lists the kinds.
 */
export interface AlertChannel {
  /** The channel's name in `alerts.channels`. */
  readonly name: string;
  readonly kind: string;
  /** Where it sends, for people and logs, without secrets: `hooks.slack.com`, `smtp.example.com:587`. */
  readonly target: string;
  send(message: AlertMessage, options?: SendOptions): Promise<DeliveryResult>;
}

/** What a channel needs from its surroundings. */
export interface ChannelContext {
  name: string;
  log: Logger;
}

/**
 * One kind of channel, as registered: its config schema (an object whose `kind`
 * is a literal) and a factory. The config schema and JSON Schema are built from these.
 */
export interface ChannelKind<
  Schema extends z.ZodObject<{ kind: z.ZodLiteral<string> }> = z.ZodObject<{
    kind: z.ZodLiteral<string>;
  }>,
> {
  readonly kind: string;
  readonly configSchema: Schema;
  create(config: z.output<Schema>, context: ChannelContext): AlertChannel;
}

/** Declares a channel kind with its types inferred from the schema. */
export function defineChannelKind<Schema extends z.ZodObject<{ kind: z.ZodLiteral<string> }>>(
  kind: ChannelKind<Schema>,
): ChannelKind<Schema> {
  return kind;
}

/** Milliseconds since `start` (from `performance.now()`), rounded to 0.1 ms. */
export function elapsedSince(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}
