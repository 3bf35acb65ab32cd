import { describe, expect, test } from 'vitest';
import { backoffDelay, isTransient, retry } from '../../src/model/retry.js';

class Flaky extends Error {
  constructor(readonly transient: boolean) {
    super(transient ? 'busy' : 'refused');
  }
}

/** A clock the waits advance, so no test sleeps. */
function fakeTime() {
  let now = 0;
  const waits: number[] = [];
  return {
    now: () => now,
    wait: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
    waits,
  };
}

describe('retry', () => {
  test('backoff doubles from the first delay up to the cap; jitter stays in the upper half', () => {
    const backoff = { initialDelayMs: 100, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5, 60].map((n) => backoffDelay(n, backoff, 1))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
    expect(backoffDelay(3, backoff, 0)).toBe(200);
    expect(backoffDelay(3, backoff, 0.5)).toBe(300);
  });

  test('retries a transient failure until it passes, waiting the backoff between attempts', async () => {
    const time = fakeTime();
    const seen: number[] = [];
    const result = await retry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new Flaky(true);
        return 'ok';
      },
      { retries: 5, initialDelayMs: 10, maxDelayMs: 100, jitter: false, ...time },
    );
    expect(result).toBe('ok');
    expect(seen).toEqual([1, 2, 3]);
    expect(time.waits).toEqual([10, 20]);
  });

  test('throws a permanent failure at once, without waiting', async () => {
    const time = fakeTime();
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls += 1;
          throw new Flaky(false);
        },
        { retries: 5, initialDelayMs: 10, maxDelayMs: 100, ...time },
      ),
    ).rejects.toThrow('refused');
    expect(calls).toBe(1);
    expect(time.waits).toEqual([]);
  });

  test('gives up after the retries with the last failure', async () => {
    const time = fakeTime();
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls += 1;
          throw new Flaky(true);
        },
        { retries: 2, initialDelayMs: 10, maxDelayMs: 100, jitter: false, ...time },
      ),
    ).rejects.toThrow('busy');
    expect(calls).toBe(3);
    expect(time.waits).toEqual([10, 20]);
  });

  test('gives up when the budget is spent, cutting the last wait to fit it', async () => {
    const time = fakeTime();
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls += 1;
          throw new Error('down');
        },
        {
          budgetMs: 50,
          initialDelayMs: 20,
          maxDelayMs: 1_000,
          jitter: false,
          transient: () => true,
          ...time,
        },
      ),
    ).rejects.toThrow('down');
    expect(time.waits).toEqual([20, 30]);
    expect(calls).toBe(3);
  });

  test('an abort ends the retries with the abort reason', async () => {
    const controller = new AbortController();
    const time = fakeTime();
    await expect(
      retry(
        async () => {
          controller.abort(new Error('stop'));
          throw new Flaky(true);
        },
        { retries: 5, initialDelayMs: 10, maxDelayMs: 100, signal: controller.signal, ...time },
      ),
    ).rejects.toThrow('stop');
    expect(time.waits).toEqual([]);
  });

  test('by default a failure is transient only when it says so', () => {
    expect(isTransient(new Flaky(true))).toBe(true);
    expect(isTransient(new Flaky(false))).toBe(false);
    expect(isTransient(new Error('x'))).toBe(false);
    expect(isTransient(null)).toBe(false);
  });
});
