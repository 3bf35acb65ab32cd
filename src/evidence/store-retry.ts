import { retry } from '../model/retry.js';
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
export function retryWhileUnavailable<T>(
  call: () => Promise<T>,
  options: StoreRetryOptions,
): Promise<T> {
  return retry(() => call(), {
    budgetMs: options.budgetMs,
    initialDelayMs: options.initialDelayMs ?? 200,
    maxDelayMs: options.maxDelayMs ?? 5_000,
    // Predictable waits: the spool's tests and its log lines count on them.
    jitter: false,
    transient: isStoreUnavailable,
    signal: options.signal,
    now: options.now,
    wait: options.wait,
    onRetry: options.onRetry,
  });
}
