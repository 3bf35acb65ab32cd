import {
  Alerting,
  type StaleCheckPayload,
  type StaleCheckResult,
} from '../src/schedule/alerting.js';
import type { Job } from '../src/schedule/job.js';

/** Default wait for retries of failed sends before the rest is left to the next check. */
const DEFAULT_WAIT_MS = 60_000;

/**
 * The stale check: every drill's state against its runs and the alert log (stale
 * when no pass within maxAge; also failures, recoveries and reminders a missed
 * evaluation left behind), then delivery of whatever the log holds undelivered.
 * The daemon schedules it; `restore-drill alerts check-stale` runs it once.
 * Replicas may run it at the same time: each alert is raised once.
 */
export const staleCheckJob: Job<StaleCheckPayload, StaleCheckResult> = {
  name: 'stale-check',
  async run(payload, { loaded, db, log, signal }) {
    const alerting = new Alerting({ loaded, db, log, watchingSince: payload.watchingSince });
    if (!alerting.enabled)
      return { drills: await alerting.drillStatuses(), raised: [], errors: [], delivery: null };
    const { raised, errors } = await alerting.evaluateAll();
    const delivery = await alerting.deliver({ waitMs: payload.waitMs ?? DEFAULT_WAIT_MS, signal });
    return { drills: await alerting.drillStatuses(), raised, errors, delivery };
  },
};
