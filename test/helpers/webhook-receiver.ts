import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** What the receiver answered. */
  status: number;
}

export interface WebhookReceiverOptions {
  /** Answer this many requests with `failStatus` before accepting. */
  failFirst?: number;
  /** Status of the failures (default 503). */
  failStatus?: number;
  /** A Retry-After header on failures. */
  retryAfter?: string;
  /** Body of the failure answers (default 'temporarily unavailable'). */
  failBody?: string;
  /** Answer this many requests, then hold every later one unanswered (`hang`). */
  hangAfter?: number;
  /** Status of an accepted request (default 200; Teams Workflows answer 202). */
  okStatus?: number;
}

/**
 * A real HTTP server on loopback that records every request it is sent and can
 * fail the first ones: the receiving end of webhook tests.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Requests that arrived, answered or held. */
  arrivals = 0;
  failuresLeft: number;
  /** When set, requests get no answer until `release()`: a receiver that hangs. */
  hang = false;
  readonly #held: (() => void)[] = [];
  readonly #waiters: { count: number; arrivals: boolean; resolve: () => void }[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: WebhookReceiverOptions & { hangAfter?: number | undefined },
  ) {
    this.failuresLeft = options.failFirst ?? 0;
  }

  static async start(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () =>
        receiver?.handle(
          request.method ?? '',
          request.url ?? '',
          request.headers,
          Buffer.concat(chunks).toString('utf8'),
          response,
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new WebhookReceiver(
      server,
      `http://127.0.0.1:${port}/hooks/T000/B000/secret-token`,
      options,
    );
    return receiver;
  }

  private handle(
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
    text: string,
    response: import('node:http').ServerResponse,
  ): void {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: kept as text.
    }
    this.arrivals++;
    if (this.options.hangAfter !== undefined && this.arrivals > this.options.hangAfter)
      this.hang = true;
    this.#notify();
    const answer = () => {
      const failing = this.failuresLeft > 0;
      if (failing) this.failuresLeft--;
      const status = failing ? (this.options.failStatus ?? 503) : (this.options.okStatus ?? 200);
      this.requests.push({ method, path, headers, body, status });
      response.writeHead(status, {
        'content-type': 'text/plain',
        ...(failing && this.options.retryAfter ? { 'retry-after': this.options.retryAfter } : {}),
      });
      response.end(failing ? (this.options.failBody ?? 'temporarily unavailable') : 'ok');
      this.#notify();
    };
    if (this.hang) this.#held.push(() => (response.destroyed ? undefined : answer()));
    else answer();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) {
      if ((waiter.arrivals ? this.arrivals : this.requests.length) >= waiter.count) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  /** Stops hanging without answering what is held (its sender is gone); later requests are answered. */
  dropHeld(): void {
    this.hang = false;
    this.options.hangAfter = undefined;
    this.#held.length = 0;
  }

  /** Answers the held requests and stops hanging. */
  release(): void {
    this.hang = false;
    for (const answer of this.#held.splice(0)) answer();
  }

  /** Requests that were accepted (2xx). */
  get accepted(): ReceivedRequest[] {
    return this.requests.filter((request) => request.status < 300);
  }

  /** Resolves once `count` requests have been answered. */
  waitFor(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, arrivals: false, resolve }));
  }

  /** Resolves once `count` requests have arrived, answered or held. */
  waitForArrivals(count: number): Promise<void> {
    if (this.arrivals >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, arrivals: true, resolve }));
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
