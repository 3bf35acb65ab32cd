import { createHash } from 'node:crypto';
import { backoffDelay } from '../model/retry.js';

/** The retry policy (`alerts.retry`), in milliseconds. */
export interface RetryPolicy {
  attempts: number;
  initialDelay: number;
  maxDelay: number;
  giveUpAfter: number;
}

/**
 * The wait after the `attempts`-th failed attempt (`backoffDelay`). The jitter comes
 * from a hash of `seed` and the attempt number rather than from Math.random, so
 * every process computes the same due time from the same log.
 */
export function retryDelay(
  attempts: number,
  policy: Pick<RetryPolicy, 'initialDelay' | 'maxDelay'>,
  seed: string,
): number {
  return backoffDelay(
    attempts,
    { initialDelayMs: policy.initialDelay, maxDelayMs: policy.maxDelay },
    unitHash(`${seed}\n${attempts}`),
  );
}

/** When the next attempt is due, after `attempts` failed ones (the last at `lastAttemptAt`). */
export function nextAttemptAt(
  state: { attempts: number; lastAttemptAt: Date | null; lastRetryAfterMs: number | null },
  policy: Pick<RetryPolicy, 'initialDelay' | 'maxDelay'>,
  seed: string,
): Date {
  if (state.attempts === 0 || state.lastAttemptAt === null) return new Date(0);
  const wait = Math.max(retryDelay(state.attempts, policy, seed), state.lastRetryAfterMs ?? 0);
  return new Date(state.lastAttemptAt.getTime() + wait);
}

/** A number in [0, 1) from a string, stable across processes. */
function unitHash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

/** A signed 32-bit key for `pg_try_advisory_xact_lock(class, key)` from a string. */
export function lockKey(text: string): number {
  return createHash('sha256').update(text).digest().readInt32BE(0);
}
