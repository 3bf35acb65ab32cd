import { afterEach, describe, expect, it } from 'vitest';
import { redactor } from '../../src/model/redact.js';
import { buildFailingAlert, type AlertMessage } from '../../src/alerts/message.js';
import {
  parseRetryAfter,
  WebhookChannel,
  webhookChannelConfigSchema,
} from '../../src/alerts/webhook-channel.js';
import { makeRun } from '../helpers/alert-fixtures.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

function failingMessage(): AlertMessage {
  const run = makeRun({
    drill: 'fileserver-nightly',
    verdict: 'failed',
    startedAt: new Date('2026-11-27T03:00:00Z'),
  });
  return buildFailingAlert({
    kind: 'failing',
    drill: { name: 'fileserver-nightly', owner: 'infra-team', tags: ['tier-1'] },
    configFile: '/etc/restore-drill/restore-drill.yaml',
    now: new Date('2026-11-27T03:05:00Z'),
    run,
    firstRed: run,
    redRuns: 1,
    lastPass: null,
  });
}

function channel(url: string, extra: Record<string, unknown> = {}): WebhookChannel {
  return new WebhookChannel(
    'hook',
    webhookChannelConfigSchema.parse({ kind: 'webhook', url, ...extra }),
  );
}

describe('webhook channel', () => {
  it('POSTs the generic JSON document with a text rendering, and reports the answer', async () => {
    receiver = await WebhookReceiver.start();
    const result = await channel(receiver.url).send(failingMessage());
    expect(result).toMatchObject({ ok: true, detail: 'HTTP 200 ok' });
    expect(receiver.requests).toHaveLength(1);
    const request = receiver.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = request.body as AlertMessage & { text: string };
    expect(body).toMatchObject({
      version: 1,
      kind: 'failing',
      drill: { name: 'fileserver-nightly', owner: 'infra-team' },
    });
    expect(body.failedChecks[0]).toMatchObject({
      name: 'manifest',
      findings: [{ item: 'etc/passwd', problem: 'changed' }],
    });
    expect(body.text).toContain('restore-drill show');
  });

  it('sends Slack-compatible text and blocks', async () => {
    receiver = await WebhookReceiver.start();
    await channel(receiver.url, { format: 'slack' }).send(failingMessage());
    const body = receiver.requests[0]!.body as { text: string; blocks: { type: string }[] };
    expect(body.text).toContain('FAILED: restore drill fileserver-nightly failed');
    expect(body.blocks.map((block) => block.type)).toEqual([
      'header',
      'section',
      'section',
      'section',
      'section',
      'context',
    ]);
  });

  it('sends a Teams Adaptive Card in a message attachment', async () => {
    receiver = await WebhookReceiver.start({ okStatus: 202 });
    const result = await channel(receiver.url, { format: 'teams' }).send(failingMessage());
    expect(result).toMatchObject({ ok: true, detail: 'HTTP 202 ok' });
    const body = receiver.requests[0]!.body as {
      type: string;
      attachments: { contentType: string; content: { type: string; version: string } }[];
    };
    expect(body.type).toBe('message');
    expect(body.attachments[0]).toMatchObject({
      contentType: 'application/vnd.microsoft.card.adaptive',
      content: { type: 'AdaptiveCard', version: '1.4' },
    });
  });

  it('sends the configured headers, with ${env:} values resolved', async () => {
    receiver = await WebhookReceiver.start();
    await channel(receiver.url, { headers: { Authorization: 'Bearer t0ken-value' } }).send(
      failingMessage(),
    );
    expect(receiver.requests[0]!.headers.authorization).toBe('Bearer t0ken-value');
  });

  it('calls a 503 transient and keeps its Retry-After', async () => {
    receiver = await WebhookReceiver.start({ failFirst: 1, failStatus: 503, retryAfter: '7' });
    const result = await channel(receiver.url).send(failingMessage());
    expect(result).toMatchObject({ ok: false, permanent: false, retryAfterMs: 7_000 });
    expect(!result.ok && result.error).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+ answered HTTP 503: temporarily unavailable$/,
    );
  });

  it('calls a 404 permanent: retrying the same URL cannot help', async () => {
    receiver = await WebhookReceiver.start({ failFirst: 1, failStatus: 404 });
    const result = await channel(receiver.url).send(failingMessage());
    expect(result).toMatchObject({ ok: false, permanent: true });
  });

  it('calls a 429 transient', async () => {
    receiver = await WebhookReceiver.start({ failFirst: 1, failStatus: 429 });
    expect(await channel(receiver.url).send(failingMessage())).toMatchObject({
      ok: false,
      permanent: false,
    });
  });

  it('calls a redirect a permanent failure instead of following it as a GET', async () => {
    receiver = await WebhookReceiver.start({ failFirst: 1, failStatus: 301 });
    const result = await channel(receiver.url).send(failingMessage());
    expect(result).toMatchObject({ ok: false, permanent: true });
    expect(!result.ok && result.error).toContain(
      'answered HTTP 301 (a redirect); configure the final URL',
    );
    expect(receiver.requests).toHaveLength(1);
  });

  it('gives up on a receiver that does not answer within the timeout, as a transient failure', async () => {
    receiver = await WebhookReceiver.start();
    receiver.hang = true;
    const result = await channel(receiver.url, { timeout: '300ms' }).send(failingMessage());
    expect(result).toMatchObject({
      ok: false,
      permanent: false,
      error: expect.stringContaining('no response within 300 ms'),
    });
  });

  it('reports a refused connection as transient, without the URL path that holds the token', async () => {
    receiver = await WebhookReceiver.start();
    const url = receiver.url;
    await receiver.close();
    receiver = undefined;
    const result = await channel(url).send(failingMessage());
    expect(result).toMatchObject({ ok: false, permanent: false });
    expect(!result.ok && result.error).toContain('ECONNREFUSED');
    expect(!result.ok && result.error).not.toContain('secret-token');
  });

  it("calls a port fetch refuses (the 'bad ports' list) a permanent failure", async () => {
    const result = await channel('http://127.0.0.1:6000/hook').send(failingMessage());
    expect(result).toMatchObject({
      ok: false,
      permanent: true,
      error:
        'POST to http://127.0.0.1:6000 refused by fetch: port 6000 is on the blocked-ports list; use another port',
    });
  });

  it('stops when its signal aborts, as a transient failure', async () => {
    receiver = await WebhookReceiver.start();
    receiver.hang = true;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const result = await channel(receiver.url).send(failingMessage(), {
      signal: controller.signal,
    });
    expect(result).toMatchObject({
      ok: false,
      permanent: false,
      error: expect.stringContaining('aborted'),
    });
  });

  it('masks secrets that appear in a response body', async () => {
    redactor.add('leaked-secret-4711', '${env:LEAKED}');
    receiver = await WebhookReceiver.start({
      failFirst: 1,
      failStatus: 400,
      failBody: 'bad token leaked-secret-4711',
    });
    const result = await channel(receiver.url).send(failingMessage());
    expect(!result.ok && result.error).toMatch(/answered HTTP 400: bad token \$\{env:LEAKED\}$/);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates, and caps long waits at an hour', () => {
    const now = Date.parse('2026-11-27T03:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 03:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('86400', now)).toBe(3_600_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
