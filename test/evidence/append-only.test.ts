import { sql, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import { recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { engines, SLOW_STORE_MS, type StorePlace } from '../helpers/evidence-engines.js';
import { makeItems, makeRecord, startOf } from '../helpers/run-records.js';

/** kysely's own bookkeeping: the only tables that may change. */
const MIGRATION_BOOKKEEPING = new Set(['kysely_migration', 'kysely_migration_lock']);

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
const HASH_C = 'c'.repeat(64);
const HASH_D = 'd'.repeat(64);

/**
 * One row for each evidence table, in foreign-key order. A table added by a
 * later migration must get its row here: the test below fails until it does,
 * so no table can forget its append-only guard.
 */
const ROWS: Record<string, (runId: string) => RawBuilder<unknown>> = {
  alert_events: (runId) => sql`insert into alert_events
    (dedupe_key, kind, drill, problem_key, run_id, created_at, channels, message)
    values ('failing:d:1', 'failing', 'd', 'failing:d:1', ${runId}, now(), '[]', '{}')`,
  alert_attempts: () => sql`insert into alert_attempts
    (event_id, channel, attempt, started_at, duration_ms, ok, permanent, detail, retry_after_ms, host, pid)
    select id, 'ops', 1, now(), 5, true, false, 'delivered', null, 'h', 1 from alert_events`,
  evidence_purges: () => sql`insert into evidence_purges
    (purged_at, cutoff, first_seq, last_seq, records, items, from_hash, anchor_hash, host, version)
    values (now(), now(), 1, 1, 1, 0, ${HASH_A}, ${HASH_B}, 'h', '0.0.0')`,
  run_reviews: (runId) => sql`insert into run_reviews
    (run_id, reviewed_at, reviewer, decision, note, ticket, record, prev_hash, record_hash)
    values (${runId}, now(), 'r', 'accepted', 'n', null, '{}', ${HASH_A}, ${HASH_B})`,
  selftests: () => sql`insert into selftests
    (run_id, drill, verdict, started_at, undetected, record, prev_hash, record_hash)
    values ('selftest-1', 'd', 'passed', now(), 0, '{}', ${HASH_C}, ${HASH_D})`,
  run_skips: () => sql`insert into run_skips
    (drill, scheduled_for, reason, blocking_run_id, detail, recorded_at, host, pid)
    values ('d', now(), 'missed', null, 'missed', now(), 'h', 1)`,
};
/** Written through the repository functions (with the chain), before the rows above. */
const RUN_TABLES = ['run_starts', 'run_results', 'run_items'];

async function refusal(statement: RawBuilder<unknown>, db: EvidenceStore['db']): Promise<string> {
  try {
    await statement.execute(db);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
}

describe.each(engines)('append-only evidence tables on %s', (_dialect, engine) => {
  let place: StorePlace;
  let store: EvidenceStore;
  let tables: string[];

  beforeAll(async () => {
    place = await engine.prepare();
    store = await place.open();
    const rows = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = current_schema() and table_type = 'BASE TABLE'
      order by table_name`.execute(store.db);
    tables = rows.rows.map((row) => row.table_name).filter((t) => !MIGRATION_BOOKKEEPING.has(t));
    const record = makeRecord();
    await recordRunStart(store.db, startOf(record));
    await recordRunResult(store.db, record, makeItems(2));
    for (const insert of Object.values(ROWS)) await insert(record.runId).execute(store.db);
  }, SLOW_STORE_MS);

  afterAll(async () => {
    await store?.close();
    await place?.cleanup();
  });

  it('knows a row for every table in the catalogue', () => {
    const missing = tables.filter((t) => !RUN_TABLES.includes(t) && !(t in ROWS));
    expect(missing, 'add a row for each new table to ROWS in this file').toEqual([]);
    expect(tables).toEqual(expect.arrayContaining([...RUN_TABLES, ...Object.keys(ROWS)]));
  });

  it('refuses UPDATE, DELETE and TRUNCATE on every table but the migration bookkeeping', async () => {
    const db = store.db;
    for (const table of tables) {
      const count = sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`;
      expect(Number((await count.execute(db)).rows[0]?.n), `a row in ${table}`).toBeGreaterThan(0);
      const columns = await sql<{ column_name: string }>`
        select column_name from information_schema.columns
        where table_schema = current_schema() and table_name = ${table} and is_identity = 'NO'
        order by ordinal_position limit 1`.execute(db);
      const column = sql.id(columns.rows[0]?.column_name ?? 'missing');
      expect(
        await refusal(sql`update ${sql.table(table)} set ${column} = ${column}`, db),
        `UPDATE ${table}`,
      ).toMatch(/append-only/);
      expect(await refusal(sql`delete from ${sql.table(table)}`, db), `DELETE ${table}`).toMatch(
        new RegExp(`append-only: DELETE on ${table} is refused`),
      );
      // CASCADE, so a foreign key pointing at the table does not refuse it first.
      expect(
        await refusal(sql`truncate ${sql.table(table)} cascade`, db),
        `TRUNCATE ${table}`,
      ).toMatch(/append-only: TRUNCATE on \w+ is refused/);
      expect(Number((await count.execute(db)).rows[0]?.n), `rows left in ${table}`).toBeGreaterThan(
        0,
      );
    }
  });
});
