import addressparser from 'nodemailer/lib/addressparser';
import { z } from 'zod';
import { durationSchema } from '../model/duration.js';
import { redactor } from '../model/redact.js';
import {
  defineChannelKind,
  elapsedSince,
  type AlertChannel,
  type DeliveryResult,
  type SendOptions,
} from './channel.js';
import { renderText, type AlertMessage } from './message.js';

/** One mailbox, `ops@example.com` or `Ops <ops@example.com>`. */
const mailboxSchema = z.string().refine(isMailbox, {
  message: "expected one e-mail address, e.g. 'ops@example.com' or 'Ops <ops@example.com>'",
});

function isMailbox(text: string): boolean {
  const parsed = addressparser(text);
  return (
    parsed.length === 1 &&
    typeof parsed[0]?.address === 'string' &&
    /^[^\s@]+@[^\s@]+$/.test(parsed[0].address)
  );
}

/** How to reach the SMTP server. */
export const smtpSchema = z
  .strictObject({
    host: z.string().min(1).describe('SMTP server host name or address.'),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('SMTP port; default 465 when secure, else 587.'),
    secure: z
      .boolean()
      .default(false)
      .describe(
        'Implicit TLS from the first byte (usually port 465). When false, STARTTLS is used if the server offers it.',
      ),
    requireTLS: z
      .boolean()
      .default(false)
      .describe('Refuse to send unless the connection is upgraded with STARTTLS.'),
    user: z.string().min(1).optional().describe('User name for SMTP AUTH.'),
    password: z.string().optional().describe('Password for SMTP AUTH; write it as ${env:NAME}.'),
    timeout: durationSchema
      .prefault('30s')
      .describe(
        'One attempt gives up after this long (connect, greeting or an idle socket); it is then retried.',
      ),
  })
  .refine((smtp) => smtp.password === undefined || smtp.user !== undefined, {
    path: ['user'],
    message: 'missing; a password needs a user',
  })
  .describe('The SMTP server that relays alerts.');

/** `alerts.channels.<name>` of kind `email`. */
export const emailChannelConfigSchema = z
  .strictObject({
    kind: z.literal('email'),
    smtp: smtpSchema,
    from: mailboxSchema.describe("Sender, e.g. 'restore-drill <drills@example.com>'."),
    to: z
      .array(mailboxSchema)
      .min(1, { message: 'expected at least one recipient' })
      .describe('Recipients.'),
    subjectPrefix: z
      .string()
      .default('[restore-drill]')
      .describe('Put before every subject, for mail filters.'),
  })
  .describe('Sends each alert as a plain-text e-mail over SMTP.');

export type EmailChannelConfig = z.output<typeof emailChannelConfigSchema>;

/** Codes of failures that no retry can fix: wrong credentials, a bad configuration. */
const PERMANENT_CODES = new Set(['EAUTH', 'ENOAUTH', 'ECONFIG', 'EENVELOPE']);

/** The subject and body an alert mail has. */
export function renderMail(
  message: AlertMessage,
  subjectPrefix: string,
): { subject: string; text: string } {
  const subject = `${subjectPrefix ? `${subjectPrefix} ` : ''}${message.title}`.replace(
    /[\r\n]+/g,
    ' ',
  );
  return { subject, text: renderText(message) };
}

/** Sends alerts as mail through one SMTP server: a fresh connection per message (alerts are rare). */
export class EmailChannel implements AlertChannel {
  readonly kind = 'email';
  readonly target: string;
  readonly #port: number;

  constructor(
    readonly name: string,
    private readonly config: EmailChannelConfig,
  ) {
    this.#port = config.smtp.port ?? (config.smtp.secure ? 465 : 587);
    this.target = `smtp://${config.smtp.host}:${this.#port}`;
  }

  async send(message: AlertMessage, options: SendOptions = {}): Promise<DeliveryResult> {
    const start = performance.now();
    const { smtp } = this.config;
    // Imported on the first mail, not by every command that reads the alert config.
    const { default: nodemailer } = await import('nodemailer');
    const transport = nodemailer.createTransport({
      host: smtp.host,
      port: this.#port,
      secure: smtp.secure,
      requireTLS: smtp.requireTLS,
      ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
      connectionTimeout: smtp.timeout,
      greetingTimeout: smtp.timeout,
      socketTimeout: smtp.timeout,
      socketCloseTimeout: 1_000,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    const { subject, text } = renderMail(message, this.config.subjectPrefix);
    try {
      const info = await transport.sendMail({
        from: this.config.from,
        to: this.config.to,
        subject,
        text,
        headers: {
          'X-Restore-Drill-Kind': message.kind,
          ...(message.drill ? { 'X-Restore-Drill-Drill': message.drill.name } : {}),
        },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const rejected = (info.rejected ?? []).map(String);
      const detail = redactor.redact(
        `${info.response ?? 'accepted'}${rejected.length > 0 ? `; rejected: ${rejected.join(', ')}` : ''}`,
      );
      return { ok: true, detail, durationMs: elapsedSince(start) };
    } catch (error) {
      const e = error as {
        code?: string;
        responseCode?: number;
        permanent?: boolean;
        message?: string;
      };
      const aborted = options.signal?.aborted === true || e.code === 'EABORT';
      const permanent =
        !aborted && (e.permanent === true || (e.code !== undefined && PERMANENT_CODES.has(e.code)));
      const reason = aborted
        ? 'aborted (shutting down)'
        : redactor.redact(oneLine(e.message ?? String(error)));
      return {
        ok: false,
        error: `mail via ${this.target} failed: ${e.code && !aborted ? `${e.code} ` : ''}${reason}`,
        permanent,
        durationMs: elapsedSince(start),
      };
    } finally {
      transport.close();
    }
  }
}

function oneLine(text: string): string {
  const line = text.split('\n')[0]?.trim() ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** The `email` channel kind. */
export const emailChannelKind = defineChannelKind({
  kind: 'email',
  configSchema: emailChannelConfigSchema,
  create: (config, context) => new EmailChannel(context.name, config),
});
