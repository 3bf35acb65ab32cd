import { setTimeout as sleep } from 'node:timers/promises';

/** Exponential backoff: `initialDelayMs` doubled after each failed attempt, capped at `maxDelayMs`. */
export interface Backoff {
  initialDelayMs: number;
  maxDelayMs: number;
}

/**
 * The wait after the `attempt`-th failed attempt (1-based), jittered into the upper half
 * of its step by `unit` in [0, 1), so callers that failed together do not retry in lockstep.
 * `unit = 1` gives the whole step (no jitter).
 */
export function backoffDelay(attempt: number, backoff: Backoff, unit = Math.random()): number {
  const exponent = Math.min(Math.max(0, attempt - 1), 40);
  const step = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * 2 ** exponent);
  return Math.round(step * (0.5 + 0.5 * unit));
}

/** A failure that says it may pass on another try: `SourceError.transient`, an error with `transient: true`. */
export function isTransient(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { transient?: unknown }).transient === true
  );
}

export interface RetryOptions extends Backoff {
  /** Retries after the first attempt; absent: as many as `budgetMs` allows. */
  retries?: number;
  /** Give up once this long has passed since the first attempt (ms); the last wait is cut to fit. */
  budgetMs?: number;
  /** True for a failure another attempt may cure; anything else is thrown at once. Default: `isTransient`. */
  transient?: (error: unknown) => boolean;
  /** Jitter the waits (default); false waits the whole step, for callers that must be predictable. */
  jitter?: boolean;
  signal?: AbortSignal | undefined;
  /** The clock and the wait (tests inject both). */
  now?: () => number;
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called before each wait, with the failure that caused it. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Calls `call` (given its 1-based attempt number) until it succeeds, retrying transient
 * failures with exponential backoff while the retries and the budget last; then throws
 * the last failure. A permanent failure is thrown at once; an abort ends the wait.
 */
export async function retry<T>(
  call: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const now = options.now ?? (() => performance.now());
  const wait =
    options.wait ?? ((ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }));
  const transient = options.transient ?? isTransient;
  const deadline = options.budgetMs === undefined ? Infinity : now() + options.budgetMs;
  const lastAttempt = options.retries === undefined ? Infinity : options.retries + 1;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await call(attempt);
    } catch (error) {
      options.signal?.throwIfAborted();
      if (!transient(error) || attempt >= lastAttempt) throw error;
      const left = deadline - now();
      if (left <= 0) throw error;
      const delay = backoffDelay(attempt, options, options.jitter === false ? 1 : Math.random());
      const pause = Math.min(delay, left);
      options.onRetry?.(error, attempt, pause);
      await wait(pause, options.signal);
    }
  }
}
