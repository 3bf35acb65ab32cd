import { Alerting } from '../src/alerts/alerting.js';
import type { DeliveryReport } from '../src/alerts/dispatcher.js';
import type { AlertEvent } from '../src/alerts/alert-log.js';
import type { Job } from '../src/schedule/job.js';

export interface StaleCheckPayload {
  /**
   * Since when the caller has been watching (the daemon's start): a drill with no
   * run at all goes stale once its maxAge has passed since then.
   */
  watchingSince?: Date;
  /** How long to keep retrying failed sends before leaving them in the log for the next check (default 60 s). */
  waitMs?: number;
}

export interface StaleCheckResult {
  /** Alerts this check raised (stale, and any failing/recovered/reminder the runs call for). */
  raised: AlertEvent[];
  /** Drills whose evaluation failed (the database, a corrupt record), with why. */
  errors: { drill: string; error: unknown }[];
  delivery: DeliveryReport | null;
}

/**
 * The stale check: every drill's state against its runs and the alert log (stale
 * when no pass within maxAge; also failures, recoveries and reminders a missed
 * evaluation left behind), then delivery of whatever the log holds undelivered.
 * The daemon schedules it; `restore-drill alerts check-stale` runs it once.
 * Replicas may run it at the same time: each alert is raised once.
 */
export const staleCheckJob: Job<StaleCheckPayload, StaleCheckResult> = {
  name: 'stale-check',
  async run(payload, context) {
    const alerting = new Alerting({ loaded: context.loaded, db: context.db, log: context.log, watchingSince: payload.watchingSince });
    if (!alerting.enabled) return { raised: [], errors: [], delivery: null };
    const { raised, errors } = await alerting.evaluateAll();
    const delivery = await alerting.deliver({ waitMs: payload.waitMs ?? 60_000, signal: context.signal });
    return { raised, errors, delivery };
  },
};
