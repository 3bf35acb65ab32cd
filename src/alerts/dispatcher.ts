import { sql, type Kysely } from 'kysely';
import type { Database } from '../evidence/database.js';
import { syncEvidence } from '../evidence/durability.js';
import type { Logger } from '../log/logger.js';
import {
  deliveryStates,
  findUndelivered,
  recordAttempt,
  type AlertEvent,
  type DeliveryState,
} from './alert-log.js';
import { lockKey, nextAttemptAt, type RetryPolicy } from './backoff.js';
import type { AlertChannel, DeliveryResult } from './channel.js';

/**
 * The advisory lock class of alert deliveries ('RDAL' in ASCII), beside the
 * evidence chain's 'RDRL': `pg_try_advisory_xact_lock(class, hash(event, channel))`.
 */
export const ALERT_LOCK_CLASS = 0x5244_414c;

/** What one attempt did. */
export interface AttemptOutcome {
  eventId: string;
  dedupeKey: string;
  kind: AlertEvent['kind'];
  drill: string | null;
  channel: string;
  attempt: number;
  result: DeliveryResult;
  /** No further attempt will be made: it succeeded, failed permanently, or used the last attempt. */
  final: boolean;
}

/** What `attempt` did: nothing (`busy`, `done`, `not-due`) or a send. */
export type AttemptStatus =
  | { status: 'busy' }
  | { status: 'done' }
  | { status: 'not-due'; due: Date }
  | { status: 'sent'; outcome: AttemptOutcome; nextDueAt: Date | null };

/** The outcome of one or more delivery passes. */
export interface DeliveryReport {
  attempts: AttemptOutcome[];
  /** Deliveries still to be retried. */
  pending: number;
  /** When the earliest pending delivery is due; null when none is pending. */
  nextDueAt: Date | null;
  /** Deliveries to channels that are no longer configured: never sent. */
  orphaned: number;
}

export interface DispatcherOptions {
  db: Kysely<Database>;
  /** The configured channels by name. */
  channels: ReadonlyMap<string, AlertChannel>;
  retry: RetryPolicy;
  log: Logger;
  /** The clock (tests move it). */
  now?: () => Date;
}

/** How often the background loop looks for alerts raised by other replicas. */
const DEFAULT_POLL_MS = 30_000;
/** When another replica holds a delivery, look again after this long. */
const BUSY_RETRY_MS = 2_000;

/**
 * Delivers the alert log: every (alert, channel) pair without a successful
 * attempt is sent, and every attempt is recorded. Failed sends are retried with
 * exponential backoff and jitter, the due time computed from the log itself, so
 * a restarted process (or another replica) resumes exactly where the last one
 * stopped: delivered alerts are not sent again, undelivered ones are.
 *
 * Each attempt runs in a transaction holding an advisory lock on its (alert,
 * channel), and re-reads the log under it: two replicas never send the same
 * attempt. If the process dies between the receiver's acceptance and the commit,
 * that one attempt is sent again after the restart (at least once, never lost).
 * Per channel, alerts go out in the order they were raised: a later alert waits
 * while an earlier one to the same channel is being retried.
 */
export class AlertDispatcher {
  readonly #db: Kysely<Database>;
  readonly #channels: ReadonlyMap<string, AlertChannel>;
  readonly #retry: RetryPolicy;
  readonly #log: Logger;
  readonly #now: () => Date;
  #loop: { stop: AbortController; wake: () => void; done: Promise<void> } | undefined;
  readonly #warnedOrphans = new Set<string>();

  constructor(options: DispatcherOptions) {
    this.#db = options.db;
    this.#channels = options.channels;
    this.#retry = options.retry;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
  }

  /** One pass: every delivery that is due gets one attempt. Never throws for a failed send. */
  async deliverDue(options: { signal?: AbortSignal | undefined } = {}): Promise<DeliveryReport> {
    const now = this.#now();
    const undelivered = await findUndelivered(this.#db, {
      since: new Date(now.getTime() - this.#retry.giveUpAfter),
    });
    const byChannel = new Map<string, { event: AlertEvent; delivery: DeliveryState }[]>();
    let orphaned = 0;
    for (const entry of undelivered) {
      if (entry.delivery.attempts >= this.#retry.attempts) continue;
      if (!this.#channels.has(entry.delivery.channel)) {
        orphaned++;
        this.#warnOrphan(entry.event, entry.delivery.channel);
        continue;
      }
      const list = byChannel.get(entry.delivery.channel) ?? [];
      list.push(entry);
      byChannel.set(entry.delivery.channel, list);
    }
    const reports = await Promise.all(
      [...byChannel].map(([channel, list]) =>
        this.#deliverChannel(channel, list, now, options.signal),
      ),
    );
    const report: DeliveryReport = { attempts: [], pending: 0, nextDueAt: null, orphaned };
    for (const part of reports) {
      report.attempts.push(...part.attempts);
      report.pending += part.pending;
      report.nextDueAt = earliest(report.nextDueAt, part.nextDueAt);
    }
    return report;
  }

  /**
   * Passes until nothing is pending, `until` is reached, or `signal` aborts,
   * sleeping until the next delivery is due. What is still pending at the end
   * stays in the log for the next pass (of this process or another).
   */
  async drain(
    options: { signal?: AbortSignal | undefined; until?: Date | undefined } = {},
  ): Promise<DeliveryReport> {
    const total: DeliveryReport = { attempts: [], pending: 0, nextDueAt: null, orphaned: 0 };
    for (;;) {
      const report = await this.deliverDue(options);
      total.attempts.push(...report.attempts);
      total.pending = report.pending;
      total.nextDueAt = report.nextDueAt;
      total.orphaned = report.orphaned;
      if (report.pending === 0 || options.signal?.aborted) return total;
      const now = this.#now().getTime();
      const wakeAt = report.nextDueAt?.getTime() ?? now + BUSY_RETRY_MS;
      if (options.until && wakeAt > options.until.getTime()) return total;
      if (!(await pause(Math.max(0, wakeAt - now), options.signal))) return total;
    }
  }

  /**
   * Runs passes in the background (the daemon): after each, sleeps until the
   * next delivery is due, `pollMs` at most (to pick up other replicas' alerts),
   * or until `notify()`. `stop()` aborts a send in flight and waits for the loop.
   */
  start(options: { pollMs?: number } = {}): void {
    if (this.#loop) return;
    const stop = new AbortController();
    let wakeUp: (() => void) | null = null;
    // A notify() while a pass runs must not be lost: the next sleep returns at once.
    let woken = false;
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        if (woken || stop.signal.aborted) {
          woken = false;
          resolve();
          return;
        }
        const finish = () => {
          clearTimeout(timer);
          stop.signal.removeEventListener('abort', finish);
          wakeUp = null;
          resolve();
        };
        const timer = setTimeout(finish, ms);
        stop.signal.addEventListener('abort', finish, { once: true });
        wakeUp = finish;
      });
    const loop = async () => {
      const poll = options.pollMs ?? DEFAULT_POLL_MS;
      while (!stop.signal.aborted) {
        let report: DeliveryReport | undefined;
        try {
          report = await this.deliverDue({ signal: stop.signal });
        } catch (error) {
          this.#log.error({ err: error }, 'alert delivery pass failed; retrying later');
        }
        const untilDue = report?.nextDueAt
          ? Math.max(0, report.nextDueAt.getTime() - this.#now().getTime())
          : poll;
        await sleep(Math.min(poll, untilDue));
      }
    };
    this.#loop = {
      stop,
      wake: () => {
        if (wakeUp) wakeUp();
        else woken = true;
      },
      done: loop(),
    };
  }

  /** True while the background loop runs. */
  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** Tells the background loop that new alerts were raised. */
  notify(): void {
    this.#loop?.wake();
  }

  /** Stops the background loop, aborting a send in flight (it is recorded and retried later). */
  async stop(): Promise<void> {
    const loop = this.#loop;
    if (!loop) return;
    this.#loop = undefined;
    loop.stop.abort();
    await loop.done;
  }

  async #deliverChannel(
    channelName: string,
    entries: { event: AlertEvent; delivery: DeliveryState }[],
    now: Date,
    signal: AbortSignal | undefined,
  ): Promise<Omit<DeliveryReport, 'orphaned'>> {
    const report: Omit<DeliveryReport, 'orphaned'> = { attempts: [], pending: 0, nextDueAt: null };
    for (let index = 0; index < entries.length; index++) {
      const { event, delivery } = entries[index] as { event: AlertEvent; delivery: DeliveryState };
      const waitingBehind = () => {
        report.pending += entries.length - index;
      };
      if (signal?.aborted) {
        waitingBehind();
        break;
      }
      const due = nextAttemptAt(delivery, this.#retry, `${event.id}\n${channelName}`);
      if (due > now) {
        waitingBehind();
        report.nextDueAt = earliest(report.nextDueAt, due);
        break;
      }
      let outcome: AttemptStatus;
      try {
        outcome = await this.attempt(event, channelName, signal);
      } catch (error) {
        // The database failed (a send may have gone out unrecorded): leave it for the next pass.
        this.#log.error(
          { err: error, alert: event.dedupeKey, channel: channelName },
          'could not record an alert delivery; it will be retried',
        );
        waitingBehind();
        report.nextDueAt = earliest(report.nextDueAt, new Date(now.getTime() + BUSY_RETRY_MS));
        break;
      }
      if (outcome.status === 'done') continue;
      if (outcome.status !== 'sent') {
        waitingBehind();
        report.nextDueAt = earliest(
          report.nextDueAt,
          outcome.status === 'busy' ? new Date(now.getTime() + BUSY_RETRY_MS) : outcome.due,
        );
        break;
      }
      report.attempts.push(outcome.outcome);
      if (!outcome.outcome.final) {
        waitingBehind();
        report.nextDueAt = earliest(report.nextDueAt, outcome.nextDueAt);
        break;
      }
    }
    return report;
  }

  /**
   * One attempt of one alert on one channel, under its advisory lock, with the
   * log re-read under the lock: `busy` when another process holds it, `done`
   * when it was delivered meanwhile, `not-due` when its backoff has not passed.
   */
  async attempt(
    event: AlertEvent,
    channelName: string,
    signal?: AbortSignal,
  ): Promise<AttemptStatus> {
    const channel = this.#channels.get(channelName);
    if (!channel) throw new Error(`'${channelName}' is not a configured channel`);
    const seed = `${event.id}\n${channelName}`;
    const status = await this.#db.transaction().execute(async (trx) => {
      const lock = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_xact_lock(${sql.lit(ALERT_LOCK_CLASS)}, ${sql.lit(lockKey(seed))}) as locked`.execute(
        trx,
      );
      if (lock.rows[0]?.locked !== true) return { status: 'busy' as const };
      const state = (await deliveryStates(trx, [event.id])).get(seed);
      const attempts = state?.attempts ?? 0;
      if (state?.delivered || state?.refused || attempts >= this.#retry.attempts)
        return { status: 'done' as const };
      if (state) {
        const due = nextAttemptAt(state, this.#retry, seed);
        if (due > this.#now()) return { status: 'not-due' as const, due };
      }
      const attempt = attempts + 1;
      const startedAt = this.#now();
      const result = await channel.send(event.message, { signal });
      await recordAttempt(trx, {
        eventId: event.id,
        channel: channelName,
        attempt,
        startedAt,
        durationMs: result.durationMs,
        ok: result.ok,
        permanent: !result.ok && result.permanent,
        detail: result.ok ? result.detail : result.error,
        retryAfterMs: result.ok ? null : (result.retryAfterMs ?? null),
      });
      const final = result.ok || result.permanent || attempt >= this.#retry.attempts;
      const outcome: AttemptOutcome = {
        eventId: event.id,
        dedupeKey: event.dedupeKey,
        kind: event.kind,
        drill: event.drill,
        channel: channelName,
        attempt,
        result,
        final,
      };
      this.#logOutcome(outcome);
      const nextDueAt = final
        ? null
        : nextAttemptAt(
            {
              attempts: attempt,
              lastAttemptAt: startedAt,
              lastRetryAfterMs: result.ok ? null : (result.retryAfterMs ?? null),
            },
            this.#retry,
            seed,
          );
      return { status: 'sent' as const, outcome, nextDueAt };
    });
    // The attempt is durable before the next one is decided: a crash must not resend a delivered alert.
    if (status.status === 'sent') await syncEvidence(this.#db);
    return status;
  }

  #logOutcome(outcome: AttemptOutcome): void {
    const fields = {
      alert: outcome.dedupeKey,
      channel: outcome.channel,
      attempt: outcome.attempt,
      drill: outcome.drill ?? undefined,
    };
    if (outcome.result.ok)
      this.#log.info({ ...fields, response: outcome.result.detail }, 'alert delivered');
    else if (!outcome.final)
      this.#log.warn(
        { ...fields, error: outcome.result.error },
        'alert delivery failed; will retry',
      );
    else if (outcome.result.permanent)
      this.#log.error(
        { ...fields, error: outcome.result.error },
        'alert delivery refused; not retrying',
      );
    else
      this.#log.error(
        { ...fields, error: outcome.result.error },
        `alert delivery failed ${outcome.attempt} times; giving up`,
      );
  }

  #warnOrphan(event: AlertEvent, channel: string): void {
    const key = `${event.id}\n${channel}`;
    if (this.#warnedOrphans.has(key)) return;
    this.#warnedOrphans.add(key);
    this.#log.warn(
      { alert: event.dedupeKey, channel },
      `alert for channel '${channel}' not sent: the channel is no longer configured`,
    );
  }
}

function earliest(a: Date | null, b: Date | null): Date | null {
  if (a === null) return b;
  if (b === null) return a;
  return a <= b ? a : b;
}

/** Waits `ms`; false when `signal` aborted first. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return false;
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
