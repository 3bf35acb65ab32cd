import { sql } from 'kysely';
import type { EvidenceDb } from '../evidence/database.js';

/**
 * Paths restored by passing runs of `drill` in one coverage cycle, read from
 * `run_items`. A run belongs to the cycle its slot falls in (its start, for runs
 * without a slot). Paths count whichever set they came from: rotating coverage is
 * about the items a backup keeps, night after night.
 */
export async function coveredPaths(
  db: EvidenceDb,
  drill: string,
  cycle: { start: Date; end: Date },
): Promise<Set<string>> {
  const slot = sql<Date>`coalesce(s.scheduled_for, r.started_at)`;
  const rows = await db
    .selectFrom('run_items as i')
    .innerJoin('run_results as r', 'r.run_id', 'i.run_id')
    .innerJoin('run_starts as s', 's.run_id', 'i.run_id')
    .select('i.path')
    .distinct()
    .where('r.drill', '=', drill)
    .where('r.verdict', '=', 'passed')
    .where(slot, '>=', cycle.start)
    .where(slot, '<', cycle.end)
    .execute();
  return new Set(rows.map((row) => row.path));
}

/** Share (0..1) of `items` found in `covered`; 1 for an empty set, which has nothing left to cover. */
export function coverageShare(items: Iterable<string>, covered: ReadonlySet<string>): number {
  let total = 0;
  let hit = 0;
  for (const item of items) {
    total += 1;
    if (covered.has(item)) hit += 1;
  }
  return total === 0 ? 1 : hit / total;
}
