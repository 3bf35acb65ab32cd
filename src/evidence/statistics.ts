import { sql } from 'kysely';
import type { EvidenceDb } from './database.js';

/** ANALYZE samples 300 rows per unit of this; PostgreSQL's default is 100. */
const EMBEDDED_STATISTICS_TARGET = 10;

/** Refresh the run tables' statistics once this many runs came since the last time (or a tenth more, if more). */
const ANALYZE_AFTER_RUNS = 1000;

/**
 * VACUUM ANALYZE the run tables of the embedded store, as autovacuum would, once they grew by
 * `ANALYZE_AFTER_RUNS` runs or a tenth since their last statistics: PGlite runs no autovacuum.
 * Without statistics the recent-runs queries read every record in their window instead of the few
 * they need; without the visibility map VACUUM sets, counting runs (`findUnfinishedRuns`, on every
 * `run` and `history`) reads every record instead of the run id indexes. On append-only tables
 * VACUUM only reads the pages added since the last time. The run count comes from the ends of the
 * `seq` index (PGlite keeps no modification counters across restarts); `run_items` is left out, it
 * is only ever read by run id. A CLI call runs it at close, the daemon on its hourly job.
 * Returns whether it refreshed them.
 */
export async function refreshStatisticsIfGrown(db: EvidenceDb): Promise<boolean> {
  const { rows } = await sql<{ analyzed: number; runs: string | null; unvacuumed: boolean }>`
    select c.reltuples as analyzed, (select max(seq) - min(seq) + 1 from run_results) as runs,
      c.relallvisible < c.relpages / 2 as unvacuumed
    from pg_class c where c.oid = 'run_results'::regclass`.execute(db);
  const runs = Number(rows[0]?.runs ?? 0);
  // reltuples is -1 until the first ANALYZE.
  const analyzed = Math.max(0, rows[0]?.analyzed ?? 0);
  // Statistics without a visibility map: a version that only ran ANALYZE left them.
  const unvacuumed = analyzed > 0 && rows[0]?.unvacuumed === true;
  if (!unvacuumed && runs - analyzed <= Math.max(ANALYZE_AFTER_RUNS, analyzed / 10)) return false;
  // A 3,000-row sample is plenty for drill, verdict and time filters; the default 30,000 rows
  // of run records took the close to 220 MB of RSS at 100,000 runs (160 MB with this). Reset
  // after, as the daemon keeps its one connection for its whole life.
  await sql`set default_statistics_target = ${sql.lit(EMBEDDED_STATISTICS_TARGET)}`.execute(db);
  try {
    await sql`vacuum (analyze) run_starts, run_results`.execute(db);
  } finally {
    await sql`reset default_statistics_target`.execute(db);
  }
  return true;
}
