import { setTimeout as sleep } from 'node:timers/promises';
import { EvidenceError } from './errors.js';

/** How a call to the evidence store is retried while the store is unavailable. */
export interface StoreRetryOptions {
  /** Give up once this long has passed since the first attempt (ms). */
  budgetMs: number;
  /** First wait between attempts (ms); doubled after each failure, up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal | undefined;
  /** The clock and the wait (tests inject both). */
  now?: () => number;
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called before each wait, with the error that caused it. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * True when an error means the store could not take the call (server down or
 * restarting, connection lost, read-only), as opposed to the call being wrong:
 * the evidence layer's own refusals (invalid record, duplicate result, no start)
 * never get better by retrying.
 */
export function isStoreUnavailable(error: unknown): boolean {
  if (error instanceof EvidenceError) return error.code === 'open-failed';
  return true;
}

/**
 * Calls `call` until it succeeds, retrying with exponential backoff while the
 * store is unavailable and the budget lasts; then throws the last error. A
 * refusal that retrying cannot fix is thrown at once.
 */
export async function retryWhileUnavailable<T>(
  call: () => Promise<T>,
  options: StoreRetryOptions,
): Promise<T> {
  const now = options.now ?? (() => performance.now());
  const wait =
    options.wait ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }));
  const maxDelay = options.maxDelayMs ?? 5_000;
  const deadline = now() + options.budgetMs;
  let delay = options.initialDelayMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await call();
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      const left = deadline - now();
      if (left <= 0) throw error;
      const pause = Math.min(delay, maxDelay, left);
      options.onRetry?.(error, attempt, pause);
      await wait(pause, options.signal);
      delay *= 2;
    }
  }
}
