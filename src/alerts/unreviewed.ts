import type { Kysely } from 'kysely';
import type { Database } from '../evidence/database.js';
import type { RunRecord } from '../evidence/run-record.js';
import { parseStoredRun } from './history.js';

/** At most this many runs per drill and pass: the rest are alerted by the next pass (memory stays flat). */
export const MAX_UNREVIEWED_PER_PASS = 50;

/**
 * Failed runs of `drill` started before `startedBefore` that have no review and
 * no `unreviewed` alert yet, oldest first: what the next pass must alert. A
 * review recorded before the pass ends it: the run is no longer loaded.
 */
export async function loadUnreviewedFailures(
  db: Kysely<Database>,
  options: { drill: string; startedBefore: Date; limit?: number },
): Promise<RunRecord[]> {
  const rows = await db
    .selectFrom('run_results as r')
    .select(['r.seq', 'r.run_id', 'r.record'])
    .where('r.drill', '=', options.drill)
    .where('r.verdict', '=', 'failed')
    .where('r.started_at', '<', options.startedBefore)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('run_reviews as v').select('v.seq').whereRef('v.run_id', '=', 'r.run_id'),
        ),
      ),
    )
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('alert_events as a')
            .select('a.id')
            .where('a.kind', '=', 'unreviewed')
            .whereRef('a.run_id', '=', 'r.run_id'),
        ),
      ),
    )
    .orderBy('r.started_at')
    .orderBy('r.seq')
    .limit(options.limit ?? MAX_UNREVIEWED_PER_PASS)
    .execute();
  return rows.map((row) => parseStoredRun(row));
}
