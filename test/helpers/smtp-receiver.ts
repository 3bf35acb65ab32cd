import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

/** One mail the receiver accepted, decoded enough for assertions. */
export interface ReceivedMail {
  from: string;
  to: string[];
  headers: Map<string, string>;
  subject: string;
  text: string;
  raw: string;
}

export interface SmtpReceiverOptions {
  /** Refuse this many messages with `failCode` before accepting. */
  failFirst?: number;
  /** 451 (transient, default) or 550 (permanent). */
  failCode?: number;
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  auth?: { user: string; password: string };
}

/**
 * A real SMTP server (the npm smtp-server) on loopback that records each mail:
 * the receiving end of e-mail tests. No TLS, so STARTTLS is not offered.
 */
export class SmtpReceiver {
  readonly mails: ReceivedMail[] = [];
  /** Every DATA answered, accepted or not. */
  attempts = 0;
  failuresLeft: number;
  readonly #waiters: { count: number; resolve: () => void }[] = [];

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
    options: SmtpReceiverOptions,
  ) {
    this.failuresLeft = options.failFirst ?? 0;
  }

  static async start(options: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
    let receiver: SmtpReceiver | undefined;
    const serverOptions: SMTPServerOptions = {
      disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      authOptional: !options.auth,
      allowInsecureAuth: true,
      logger: false,
      onAuth(auth, _session, callback) {
        if (
          options.auth &&
          auth.username === options.auth.user &&
          auth.password === options.auth.password
        )
          callback(null, { user: auth.username });
        else
          callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const self = receiver as SmtpReceiver;
          self.attempts++;
          if (self.failuresLeft > 0) {
            self.failuresLeft--;
            const code = options.failCode ?? 451;
            callback(
              Object.assign(new Error(code >= 500 ? 'Mailbox unavailable' : 'Try again later'), {
                responseCode: code,
              }),
            );
          } else {
            const raw = Buffer.concat(chunks).toString('utf8');
            const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
            self.mails.push({
              ...parseMail(raw),
              from,
              to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
              raw,
            });
            callback(null, 'Message queued as test-1');
          }
          self.notify();
        });
      },
    };
    const server = new SMTPServer(serverOptions);
    server.on('error', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.server.address() as AddressInfo;
    receiver = new SmtpReceiver(server, port, options);
    return receiver;
  }

  private notify(): void {
    for (const waiter of [...this.#waiters]) {
      if (this.attempts >= waiter.count) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  /** Resolves once `count` messages have been answered (accepted or refused). */
  waitFor(count: number): Promise<void> {
    if (this.attempts >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Headers (unfolded, encoded words decoded) and the text body (quoted-printable or base64 decoded). */
export function parseMail(raw: string): {
  headers: Map<string, string>;
  subject: string;
  text: string;
} {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const body = raw.slice(split + 4);
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers.set(line.slice(0, colon).toLowerCase(), decodeWords(line.slice(colon + 1).trim()));
  }
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? Buffer.from(
          body
            .replace(/=\r\n/g, '')
            .replace(/=([0-9A-F]{2})/gi, (_, hex: string) =>
              String.fromCharCode(Number.parseInt(hex, 16)),
            ),
          'latin1',
        ).toString('utf8')
      : encoding === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
        : body;
  return { headers, subject: headers.get('subject') ?? '', text: text.replace(/\r\n/g, '\n') };
}

/** RFC 2047 encoded words (=?UTF-8?Q?…?= and =?UTF-8?B?…?=); adjacent words join without the space. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(
      /=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g,
      (_, _charset: string, mode: string, text: string) => {
        if (mode.toUpperCase() === 'B') return Buffer.from(text, 'base64').toString('utf8');
        const bytes = text
          .replace(/_/g, ' ')
          .replace(/=([0-9A-F]{2})/gi, (__, hex: string) =>
            String.fromCharCode(Number.parseInt(hex, 16)),
          );
        return Buffer.from(bytes, 'latin1').toString('utf8');
      },
    );
}
