import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listAttempts, recordAlertEvent, type AlertEvent } from '../../src/alerts/alert-log.js';
import type { RetryPolicy } from '../../src/alerts/backoff.js';
import type { AlertChannel } from '../../src/alerts/channel.js';
import { AlertDispatcher } from '../../src/alerts/dispatcher.js';
import { buildTestMessage } from '../../src/alerts/message.js';
import { WebhookChannel, webhookChannelConfigSchema } from '../../src/alerts/webhook-channel.js';
import { silentLogger } from '../../src/log/logger.js';
import { engines, SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { openStore } from '../helpers/alert-fixtures.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

describe.each(engines)('alert delivery on %s', (_dialect, engine) => {
  let handle: Awaited<ReturnType<typeof openStore>>;
  beforeAll(async () => {
    handle = await openStore(engine);
  }, SLOW_STORE_MS);
  afterAll(async () => {
    await handle.cleanup();
  });

  const receivers: WebhookReceiver[] = [];
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });

  async function receiver(
    options: Parameters<typeof WebhookReceiver.start>[0] = {},
  ): Promise<WebhookReceiver> {
    const started = await WebhookReceiver.start(options);
    receivers.push(started);
    return started;
  }

  // Tests share one database: each names its channels uniquely, so one test's pending alerts are not another's.
  let testNo = 0;
  beforeEach(() => {
    testNo++;
  });
  const ch = (base: string) => `${base}-${testNo}`;

  const FAST: RetryPolicy = {
    attempts: 5,
    initialDelay: 40,
    maxDelay: 160,
    giveUpAfter: 86_400_000,
  };

  function channels(entries: Record<string, WebhookReceiver>): Map<string, AlertChannel> {
    return new Map(
      Object.entries(entries).map(([base, target]) => [
        ch(base),
        new WebhookChannel(
          ch(base),
          // No test here is about the send timeout: a long one keeps a loaded machine from failing a send.
          webhookChannelConfigSchema.parse({ kind: 'webhook', url: target.url, timeout: '30s' }),
        ),
      ]),
    );
  }

  function dispatcher(map: Map<string, AlertChannel>, retry: RetryPolicy = FAST): AlertDispatcher {
    return new AlertDispatcher({ db: handle.store.db, channels: map, retry, log: silentLogger() });
  }

  /** Raises a heartbeat-kind alert (no drill, no run) to these channels, with a unique key. */
  async function raise(bases: string[], createdAt = new Date()): Promise<AlertEvent> {
    const channelNames = bases.map(ch);
    const key = `heartbeat:${randomUUID()}`;
    const { event } = await recordAlertEvent(handle.store.db, {
      dedupeKey: key,
      kind: 'heartbeat',
      drill: null,
      problemKey: null,
      runId: null,
      createdAt,
      channels: channelNames,
      message: {
        ...buildTestMessage({ channel: channelNames.join(','), now: createdAt }),
        title: key,
      },
    });
    return event;
  }

  const titles = (target: WebhookReceiver) =>
    target.accepted.map((request) => (request.body as { title: string }).title);

  it('retries a failed send with backoff until the receiver accepts it, recording every attempt', async () => {
    const hook = await receiver({ failFirst: 2 });
    const event = await raise(['hook']);
    const report = await dispatcher(channels({ hook })).drain({
      until: new Date(Date.now() + 10_000),
    });
    expect(report.pending).toBe(0);
    expect(hook.requests.map((request) => request.status)).toEqual([503, 503, 200]);
    const attempts = await listAttempts(handle.store.db, event.id);
    expect(attempts.map((attempt) => [attempt.attempt, attempt.ok])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
    expect(attempts[0]!.detail).toContain('answered HTTP 503');
    // Backoff: the second wait is at least half of twice the first (jitter keeps it in the upper half).
    const gap = (a: number, b: number) =>
      attempts[b]!.startedAt.getTime() - attempts[a]!.startedAt.getTime();
    expect(gap(0, 1)).toBeGreaterThanOrEqual(20);
    expect(gap(1, 2)).toBeGreaterThanOrEqual(40);
  });

  it('gives up after the configured number of attempts', async () => {
    const hook = await receiver({ failFirst: 100 });
    const event = await raise(['hook']);
    const report = await dispatcher(channels({ hook }), { ...FAST, attempts: 3 }).drain({
      until: new Date(Date.now() + 10_000),
    });
    expect(report.pending).toBe(0);
    expect(report.attempts.map((attempt) => attempt.final)).toEqual([false, false, true]);
    expect(hook.requests).toHaveLength(3);
    expect(await listAttempts(handle.store.db, event.id)).toHaveLength(3);
    // A later pass leaves it alone.
    await dispatcher(channels({ hook }), { ...FAST, attempts: 3 }).deliverDue();
    expect(hook.requests).toHaveLength(3);
  });

  it('does not retry a permanent failure', async () => {
    const hook = await receiver({ failFirst: 100, failStatus: 404 });
    const event = await raise(['hook']);
    const report = await dispatcher(channels({ hook })).drain({
      until: new Date(Date.now() + 5_000),
    });
    expect(report.attempts).toMatchObject([
      { attempt: 1, final: true, result: { ok: false, permanent: true } },
    ]);
    expect(hook.requests).toHaveLength(1);
    expect((await listAttempts(handle.store.db, event.id))[0]).toMatchObject({
      ok: false,
      permanent: true,
    });
  });

  it("waits at least as long as the receiver's Retry-After", async () => {
    const hook = await receiver({ failFirst: 1, retryAfter: '1' });
    const event = await raise(['hook']);
    await dispatcher(channels({ hook })).drain({ until: new Date(Date.now() + 10_000) });
    const attempts = await listAttempts(handle.store.db, event.id);
    expect(attempts.map((attempt) => attempt.ok)).toEqual([false, true]);
    expect(attempts[0]!.retryAfterMs).toBe(1_000);
    expect(
      attempts[1]!.startedAt.getTime() - attempts[0]!.startedAt.getTime(),
    ).toBeGreaterThanOrEqual(1_000);
  });

  it('keeps alerts to one channel in the order they were raised while the first is retried', async () => {
    const hook = await receiver({ failFirst: 1 });
    const first = await raise(['hook']);
    const second = await raise(['hook']);
    const d = dispatcher(channels({ hook }));
    const pass = await d.deliverDue();
    expect(pass.attempts.map((attempt) => attempt.eventId)).toEqual([first.id]);
    expect(pass.pending).toBe(2);
    await d.drain({ until: new Date(Date.now() + 10_000) });
    expect(titles(hook)).toEqual([first.dedupeKey, second.dedupeKey]);
  });

  it('delivers to a healthy channel while another is down', async () => {
    const up = await receiver();
    const down = await receiver({ failFirst: 100 });
    await raise(['up', 'down']);
    const pass = await dispatcher(channels({ up, down })).deliverDue();
    expect(pass.attempts.map((attempt) => [attempt.channel, attempt.result.ok]).sort()).toEqual([
      [ch('down'), false],
      [ch('up'), true],
    ]);
    expect(up.accepted).toHaveLength(1);
  });

  it('after a restart, does not resend what was delivered and resends what was not', async () => {
    const up = await receiver();
    const down = await receiver({ failFirst: 100 });
    const event = await raise(['up', 'down']);
    await dispatcher(channels({ up, down }), {
      ...FAST,
      initialDelay: 60_000,
      maxDelay: 60_000,
    }).deliverDue();
    expect(up.accepted).toHaveLength(1);
    expect(down.accepted).toHaveLength(0);

    // The process restarts: the store is closed and opened again, a new dispatcher reads the log.
    await handle.reopen();
    down.failuresLeft = 0;
    const retry = { ...FAST, initialDelay: 50, maxDelay: 50 };
    await dispatcher(channels({ up, down }), retry).drain({ until: new Date(Date.now() + 5_000) });
    expect(up.requests).toHaveLength(1);
    expect(titles(down)).toEqual([event.dedupeKey]);
    expect(
      (await listAttempts(handle.store.db, event.id)).map((a) => [a.channel, a.attempt, a.ok]),
    ).toEqual([
      [ch('down'), 1, false],
      [ch('down'), 2, true],
      [ch('up'), 1, true],
    ]);
  });

  it('records a send cut short by shutdown, and sends it again after the restart', async () => {
    const hook = await receiver();
    hook.hang = true;
    const event = await raise(['hook']);
    const stop = new AbortController();
    const draining = dispatcher(channels({ hook })).drain({
      signal: stop.signal,
      until: new Date(Date.now() + 10_000),
    });
    await hook.waitForArrivals(1);
    stop.abort();
    const report = await draining;
    expect(report.attempts).toMatchObject([
      {
        attempt: 1,
        result: { ok: false, permanent: false, error: expect.stringContaining('aborted') },
      },
    ]);

    await handle.reopen();
    hook.hang = false;
    await dispatcher(channels({ hook }), { ...FAST, initialDelay: 10, maxDelay: 10 }).drain({
      until: new Date(Date.now() + 5_000),
    });
    expect(titles(hook)).toEqual([event.dedupeKey]);
    expect((await listAttempts(handle.store.db, event.id)).map((a) => a.ok)).toEqual([false, true]);
  });

  it('sends each alert once when two dispatchers share the database', async () => {
    const hook = await receiver();
    const events = [await raise(['hook']), await raise(['hook']), await raise(['hook'])];
    const until = new Date(Date.now() + 5_000);
    await Promise.all([
      dispatcher(channels({ hook })).drain({ until }),
      dispatcher(channels({ hook })).drain({ until }),
    ]);
    expect(titles(hook)).toEqual(events.map((event) => event.dedupeKey));
  });

  it('skips channels that are no longer configured, and alerts older than giveUpAfter', async () => {
    const hook = await receiver();
    await raise(['gone']);
    await raise(['hook'], new Date(Date.now() - 2 * 86_400_000));
    const report = await dispatcher(channels({ hook }), { ...FAST, giveUpAfter: 86_400_000 }).drain(
      { until: new Date(Date.now() + 2_000) },
    );
    expect(report.orphaned).toBeGreaterThanOrEqual(1);
    expect(report.attempts).toEqual([]);
    expect(hook.requests).toHaveLength(0);
  });

  it('delivers in the background and wakes when notified', async () => {
    const hook = await receiver();
    const d = dispatcher(channels({ hook }));
    d.start({ pollMs: 60_000 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const event = await raise(['hook']);
      d.notify();
      await hook.waitFor(1);
      expect(titles(hook)).toEqual([event.dedupeKey]);
    } finally {
      await d.stop();
    }
  });
});
