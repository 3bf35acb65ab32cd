import { randomUUID } from 'node:crypto';
import { canonicalJson } from '../src/evidence/canonical-json.js';
import { openEvidenceStore } from '../src/evidence/open-store.js';
import { listRuns, runResultRow } from '../src/evidence/runs.js';
import { silentLogger } from '../src/log/logger.js';

/** Rows per INSERT while seeding: big enough to be quick, small enough for PGlite's memory. */
const SEED_BATCH = 500;

/**
 * Fills the embedded store under `embeddedDir` with `count` more finished runs, copies of the
 * newest run already there (new ids, one a minute back in time), chained as `recordRunResult`
 * chains them, so `history` reads what a store of that size holds. Written in batches: going
 * through `recordRunResult` one run at a time would take the bench longer than it measures.
 */
export async function seedRuns(embeddedDir: string, count: number): Promise<void> {
  const store = await openEvidenceStore({ embeddedDir, log: silentLogger() });
  try {
    const [template] = await listRuns(store.db, { limit: 1 });
    if (template === undefined) throw new Error('seedRuns: the store holds no run to copy');
    const start = await store.db
      .selectFrom('run_starts')
      .selectAll()
      .where('run_id', '=', template.runId)
      .executeTakeFirstOrThrow();
    const last = await store.db
      .selectFrom('run_results')
      .select('record_hash')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    let prevHash = last.record_hash;
    const base = Date.parse(template.startedAt);
    for (let done = 0; done < count; done += SEED_BATCH) {
      const starts = [];
      const results = [];
      for (let i = done; i < Math.min(count, done + SEED_BATCH); i++) {
        const startedAt = new Date(base - (i + 1) * 60_000);
        const finishedAt = new Date(startedAt.getTime() + template.timings.totalMs);
        const record = {
          ...template,
          runId: randomUUID(),
          startedAt: startedAt.toISOString(),
          finishedAt: finishedAt.toISOString(),
        };
        const row = runResultRow(record, canonicalJson(record), prevHash);
        starts.push({ ...start, run_id: record.runId, started_at: startedAt });
        results.push(row);
        prevHash = row.record_hash;
      }
      await store.db.insertInto('run_starts').values(starts).execute();
      await store.db.insertInto('run_results').values(results).execute();
    }
  } finally {
    await store.close();
  }
}
