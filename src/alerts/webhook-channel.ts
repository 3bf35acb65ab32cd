import { z } from 'zod';
import { redactor } from '../model/redact.js';
import { durationSchema } from '../model/duration.js';
import {
  defineChannelKind,
  elapsedSince,
  type AlertChannel,
  type DeliveryResult,
  type SendOptions,
} from './channel.js';
import type { AlertMessage } from './message.js';
import { webhookPayload, type WebhookFormat } from './webhook-payloads.js';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `alerts.channels.<name>` of kind `webhook`. */
export const webhookChannelConfigSchema = z
  .strictObject({
    kind: z.literal('webhook'),
    url: z
      .string()
      .refine((text) => /^https?:$/.test(safeUrl(text)?.protocol ?? ''), {
        message: 'expected an http:// or https:// URL',
      })
      .describe(
        'Where alerts are POSTed. Webhook URLs usually hold a token: write them as ${env:NAME}.',
      ),
    format: z
      .enum(['generic', 'slack', 'teams'])
      .default('generic')
      .describe(
        'Body format: generic (the alert document as JSON, plus a `text` rendering), slack (incoming webhook: text and blocks), teams (Workflows webhook: an Adaptive Card).',
      ),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, { message: 'expected an HTTP header name' }),
        z.string(),
      )
      .default({})
      .describe('Extra request headers, e.g. Authorization: "Bearer ${env:ALERT_TOKEN}".'),
    timeout: durationSchema
      .prefault('10s')
      .describe(
        'One attempt gives up after this long; it is then retried like any transient failure.',
      ),
  })
  .describe('POSTs each alert as JSON to a URL.');

export type WebhookChannelConfig = z.output<typeof webhookChannelConfigSchema>;

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** The longest response text kept in a failed attempt's error. */
const BODY_EXCERPT_CHARS = 200;
/** An HTTP Retry-After beyond this is capped: alerts should not wait a day. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** Sends alerts to one webhook URL. Its `target` is host and port only: the path often holds a token. */
export class WebhookChannel implements AlertChannel {
  readonly kind = 'webhook';
  readonly target: string;

  constructor(
    readonly name: string,
    private readonly config: WebhookChannelConfig,
  ) {
    const url = new URL(config.url);
    this.target = `${url.protocol}//${url.host}`;
  }

  get format(): WebhookFormat {
    return this.config.format;
  }

  async send(message: AlertMessage, options: SendOptions = {}): Promise<DeliveryResult> {
    const start = performance.now();
    const timeout = AbortSignal.timeout(this.config.timeout);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await fetch(this.config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'restore-drill',
          ...this.config.headers,
        },
        body: JSON.stringify(webhookPayload(message, this.config.format)),
        // A redirected POST turns into a GET in fetch; the alert would be lost quietly.
        redirect: 'manual',
        signal,
      });
    } catch (error) {
      if (networkReason(error) === 'bad port') {
        // fetch refuses some ports outright (the WHATWG "bad ports": 1, 25, 6000…); retrying cannot help.
        const port = new URL(this.config.url).port;
        return {
          ok: false,
          error: `POST to ${this.target} refused by fetch: port ${port} is on the blocked-ports list; use another port`,
          permanent: true,
          durationMs: elapsedSince(start),
        };
      }
      const why = options.signal?.aborted
        ? 'aborted (shutting down)'
        : timeout.aborted
          ? `no response within ${this.config.timeout} ms`
          : networkReason(error);
      return {
        ok: false,
        error: `POST to ${this.target} failed: ${why}`,
        permanent: false,
        durationMs: elapsedSince(start),
      };
    }
    const excerpt = await readExcerpt(response);
    const durationMs = elapsedSince(start);
    const status = response.status;
    if (status >= 200 && status < 300)
      return { ok: true, detail: `HTTP ${status}${excerpt ? ` ${excerpt}` : ''}`, durationMs };
    const said = excerpt ? `: ${excerpt}` : '';
    if (status >= 300 && status < 400) {
      return {
        ok: false,
        error: `${this.target} answered HTTP ${status} (a redirect); configure the final URL`,
        permanent: true,
        durationMs,
      };
    }
    const transient = status === 408 || status === 425 || status === 429 || status >= 500;
    return {
      ok: false,
      error: `${this.target} answered HTTP ${status}${said}`,
      permanent: !transient,
      retryAfterMs: transient ? parseRetryAfter(response.headers.get('retry-after')) : undefined,
      durationMs,
    };
  }
}

/** Retry-After as seconds or an HTTP date, in ms (capped); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value.trim());
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, Math.round(ms)), MAX_RETRY_AFTER_MS);
}

async function readExcerpt(response: Response): Promise<string> {
  try {
    const text = (await response.text()).replace(/\s+/g, ' ').trim();
    return redactor.redact(
      text.length > BODY_EXCERPT_CHARS ? `${text.slice(0, BODY_EXCERPT_CHARS - 3)}...` : text,
    );
  } catch {
    return '';
  }
}

/** fetch's "fetch failed" hides the reason in `cause`: ECONNREFUSED, ENOTFOUND, a TLS error. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const text =
    typeof cause?.message === 'string'
      ? cause.message
      : error instanceof Error
        ? error.message
        : String(error);
  return redactor.redact(code && !text.includes(code) ? `${code} ${text}` : text);
}

/** The `webhook` channel kind. */
export const webhookChannelKind = defineChannelKind({
  kind: 'webhook',
  configSchema: webhookChannelConfigSchema,
  create: (config, context) => new WebhookChannel(context.name, config),
});
