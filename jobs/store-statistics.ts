import { refreshStatisticsIfGrown } from '../src/evidence/statistics.js';
import type { PeriodicJob } from '../src/schedule/job.js';

/** Hourly, off the hour when drills tend to start. */
const HOURLY = '41 * * * *';

/** What one statistics refresh did. */
export interface StoreStatisticsResult {
  refreshed: boolean;
}

/**
 * The embedded store's statistics: a CLI call refreshes them when it closes the store, but the
 * daemon keeps it open for months, and PGlite runs no autovacuum; without this the history,
 * report and web queries of a long-lived daemon would read every run. A PostgreSQL server's
 * autovacuum does it there, so the job is not scheduled.
 */
export const storeStatisticsJob: PeriodicJob<StoreStatisticsResult> = {
  name: 'store-statistics',
  schedule: (config) => (config.database.url === undefined ? HOURLY : null),
  async run(_payload, { db, log }) {
    const refreshed = await refreshStatisticsIfGrown(db);
    log[refreshed ? 'info' : 'debug']({ refreshed }, 'evidence store statistics checked');
    return { refreshed };
  },
};
