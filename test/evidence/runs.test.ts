import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/evidence/canonical-json.js';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import { runRecordSchema } from '../../src/evidence/run-record.js';
import {
  ITEM_BATCH_SIZE,
  countRuns,
  findUnfinishedRuns,
  getRun,
  GENESIS_HASH,
  lastPassingRun,
  listRunItems,
  listRuns,
  recordRunResult,
  streamRuns,
  recordRunStart,
} from '../../src/evidence/runs.js';
import {
  engines,
  postgresEngine,
  SLOW_STORE_MS,
  type StorePlace,
} from '../helpers/evidence-engines.js';
import { makeItems, makeRecord, startOf } from '../helpers/run-records.js';

/** A drill name no other test in the file uses, so tests sharing a database stay independent. */
function uniqueDrill(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

describe.each(engines)('evidence runs on %s', (dialect, engine) => {
  let place: StorePlace;
  let store: EvidenceStore;

  beforeAll(async () => {
    place = await engine.prepare();
    store = await place.open();
  }, SLOW_STORE_MS);

  afterAll(async () => {
    await store?.close();
    await place?.cleanup();
  }, SLOW_STORE_MS);

  /** Every row of the chain, oldest first, re-verified from the stored text alone. */
  async function verifyWholeChain(): Promise<number> {
    const rows = await store.db
      .selectFrom('run_results')
      .select(['seq', 'record', 'prev_hash', 'record_hash'])
      .orderBy('seq')
      .execute();
    let expectedPrev = '0'.repeat(64);
    for (const row of rows) {
      expect(row.prev_hash, `prev_hash of seq ${row.seq}`).toBe(expectedPrev);
      const recomputed = createHash('sha256')
        .update(`${row.prev_hash}\n${row.record}`)
        .digest('hex');
      expect(row.record_hash, `record_hash of seq ${row.seq}`).toBe(recomputed);
      expectedPrev = row.record_hash;
    }
    return rows.length;
  }

  async function recordRun(overrides: Parameters<typeof makeRecord>[0] = {}, items = makeItems(3)) {
    const record = makeRecord(overrides);
    expect(await recordRunStart(store.db, startOf(record))).toBe(true);
    const stored = await recordRunResult(store.db, record, items);
    return { record, ...stored };
  }

  it('opens through the expected dialect', () => {
    expect(store.dialect).toBe(dialect);
  });

  it('round-trips a start and a result: the stored record equals the input', async () => {
    const record = makeRecord({ drill: uniqueDrill('roundtrip') });
    expect(await recordRunStart(store.db, startOf(record))).toBe(true);
    const { seq, recordHash } = await recordRunResult(store.db, record, makeItems(3));

    const stored = await getRun(store.db, record.runId);
    expect(stored).toEqual({
      record: runRecordSchema.parse(record),
      seq,
      prevHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      recordHash,
    });
    expect(stored?.record).toEqual(record);
    expect(await listRuns(store.db, { drill: [record.drill] })).toEqual([record]);

    const row = await store.db
      .selectFrom('run_results')
      .selectAll()
      .where('run_id', '=', record.runId)
      .executeTakeFirstOrThrow();
    expect(row.record).toBe(canonicalJson(record));
    expect(row).toMatchObject({
      drill: record.drill,
      verdict: 'passed',
      set_path: '/backups/backup-2025-03-01.tar',
      files: 3,
      bytes: '300',
      checks_failed: 0,
      restore_ms: 8000,
      verify_ms: 4000,
      total_ms: 12_345,
    });
    expect(row.started_at.toISOString()).toBe(record.startedAt);
    expect(row.finished_at.toISOString()).toBe(record.finishedAt);
  });

  it('stores the start row as given', async () => {
    const record = makeRecord({
      drill: uniqueDrill('start'),
      trigger: 'schedule',
      scheduledFor: '2025-03-01T03:00:00.000Z',
    });
    const start = startOf(record, { pid: 777, scratchDir: null });
    await recordRunStart(store.db, start);
    const unfinished = await findUnfinishedRuns(store.db);
    expect(unfinished.find((run) => run.runId === record.runId)).toEqual(start);
  });

  it('lists runs newest first, filtered by drill, time range and verdict', async () => {
    const a = uniqueDrill('list-a');
    const b = uniqueDrill('list-b');
    const at = (day: number) => `2024-06-${String(day).padStart(2, '0')}T03:00:00.000Z`;
    const a1 = (await recordRun({ drill: a, startedAt: at(1) })).record;
    const a3 = (
      await recordRun({
        drill: a,
        startedAt: at(3),
        verdict: 'failed',
        cause: 'manifest: 1 file changed',
      })
    ).record;
    const a2 = (
      await recordRun({ drill: a, startedAt: at(2), verdict: 'error', cause: 'tar: exit code 2' })
    ).record;
    const b2 = (await recordRun({ drill: b, startedAt: at(2) })).record;

    const ids = (records: { runId: string }[]) => records.map((r) => r.runId);
    expect(ids(await listRuns(store.db, { drill: [a] }))).toEqual([a3.runId, a2.runId, a1.runId]);
    // a2 and b2 started at the same time: b2 was appended later, so it comes first.
    expect(ids(await listRuns(store.db, { drill: [a, b] }))).toEqual([
      a3.runId,
      b2.runId,
      a2.runId,
      a1.runId,
    ]);
    expect(ids(await listRuns(store.db, { drill: [a], since: new Date(at(2)) }))).toEqual([
      a3.runId,
      a2.runId,
    ]);
    expect(ids(await listRuns(store.db, { drill: [a], until: new Date(at(3)) }))).toEqual([
      a2.runId,
      a1.runId,
    ]);
    expect(
      ids(
        await listRuns(store.db, { drill: [a, b], since: new Date(at(2)), until: new Date(at(3)) }),
      ).sort(),
    ).toEqual([a2.runId, b2.runId].sort());
    expect(ids(await listRuns(store.db, { drill: [a], verdict: ['failed', 'error'] }))).toEqual([
      a3.runId,
      a2.runId,
    ]);
    expect(ids(await listRuns(store.db, { drill: [a], limit: 2 }))).toEqual([a3.runId, a2.runId]);
    expect(await listRuns(store.db, { drill: [] })).toEqual([]);
    expect(await countRuns(store.db, { drill: [a] })).toBe(3);
    expect(await countRuns(store.db, { drill: [a, b], verdict: ['passed'] })).toBe(2);
    expect(typeof (await countRuns(store.db))).toBe('number');
  });

  it('streams the runs listRuns lists, a page at a time, across pages split inside a tie', async () => {
    const a = uniqueDrill('stream-a');
    const b = uniqueDrill('stream-b');
    const at = (day: number) => `2024-07-${String(day).padStart(2, '0')}T03:00:00.000Z`;
    // Days 1..4, three runs on day 2 and two on day 3: pages of 2 split both ties.
    for (const [drill, day, verdict] of [
      [a, 1, 'passed'],
      [a, 2, 'failed'],
      [b, 2, 'passed'],
      [a, 2, 'passed'],
      [b, 3, 'error'],
      [a, 3, 'passed'],
      [a, 4, 'passed'],
    ] as const)
      await recordRun(
        { drill, startedAt: at(day), verdict, cause: verdict === 'passed' ? null : 'x' },
        [],
      );
    const collect = async (options: Parameters<typeof streamRuns>[1]) => {
      const runs = [];
      for await (const run of streamRuns(store.db, options)) runs.push(run);
      return runs;
    };
    for (const filter of [
      { drill: [a, b] },
      { drill: [a, b], limit: 5 },
      { drill: [a, b], limit: 2 },
      { drill: [a], verdict: ['passed' as const] },
      { drill: [a, b], since: new Date(at(2)), until: new Date(at(4)) },
      { drill: [] },
    ]) {
      const expected = await listRuns(store.db, filter);
      for (const pageSize of [1, 2, 3, 1_000])
        expect(
          await collect({ ...filter, pageSize }),
          JSON.stringify({ filter, pageSize }),
        ).toEqual(expected);
    }
    expect((await collect({ drill: [a, b], pageSize: 2 })).length).toBe(7);
  });

  it('breaks ties in start time by chain order, newest first', async () => {
    const drill = uniqueDrill('tie');
    const first = (await recordRun({ drill })).record;
    const second = (await recordRun({ drill })).record;
    expect((await listRuns(store.db, { drill: [drill] })).map((r) => r.runId)).toEqual([
      second.runId,
      first.runId,
    ]);
  });

  it('finds the last passing run of a drill', async () => {
    const drill = uniqueDrill('last-pass');
    expect(await lastPassingRun(store.db, drill)).toBeUndefined();
    const old = (await recordRun({ drill, startedAt: '2024-01-01T00:00:00.000Z' })).record;
    await recordRun({
      drill,
      startedAt: '2024-01-03T00:00:00.000Z',
      verdict: 'failed',
      cause: 'bytes: short',
    });
    expect((await lastPassingRun(store.db, drill))?.runId).toBe(old.runId);
    const newer = (await recordRun({ drill, startedAt: '2024-01-02T00:00:00.000Z' })).record;
    expect((await lastPassingRun(store.db, drill))?.runId).toBe(newer.runId);
  });

  it('links every result to the previous one, and the stored text reproduces each hash', async () => {
    const before = await verifyWholeChain();
    const first = await recordRun({ drill: uniqueDrill('chain') });
    const second = await recordRun({ drill: uniqueDrill('chain') });
    expect(second.seq).toBeGreaterThan(first.seq);
    const stored = await getRun(store.db, second.record.runId);
    expect(stored?.prevHash).toBe(first.recordHash);
    expect(stored?.recordHash).toBe(second.recordHash);
    expect(await verifyWholeChain()).toBe(before + 2);
  });

  it('starts the chain at 64 zeros', async () => {
    const firstRow = await store.db
      .selectFrom('run_results')
      .select(['prev_hash'])
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst();
    if (firstRow === undefined) await recordRun({ drill: uniqueDrill('genesis') });
    const genesis = await store.db
      .selectFrom('run_results')
      .select(['prev_hash'])
      .orderBy('seq')
      .limit(1)
      .executeTakeFirstOrThrow();
    expect(genesis.prev_hash).toBe(GENESIS_HASH);
    expect(GENESIS_HASH).toBe('0'.repeat(64));
  });

  it('keeps one linear chain under 20 concurrent appends', async () => {
    // On PostgreSQL, three separate pools stand in for three daemons; PGlite serves one process.
    const extra = dialect === 'postgres' ? [await place.open(), await place.open()] : [];
    try {
      const dbs = [store.db, ...extra.map((s) => s.db)];
      const drill = uniqueDrill('concurrent');
      const records = Array.from({ length: 20 }, () => makeRecord({ drill }));
      for (const record of records) await recordRunStart(store.db, startOf(record));
      const results = await Promise.all(
        records.map((record, i) => recordRunResult(dbs[i % dbs.length]!, record, makeItems(50))),
      );
      expect(new Set(results.map((r) => r.seq)).size).toBe(20);
      expect(await countRuns(store.db, { drill: [drill] })).toBe(20);
      await verifyWholeChain();
      const forks = await sql<{
        n: string;
      }>`select count(*) - count(distinct prev_hash) as n from run_results`.execute(store.db);
      expect(Number(forks.rows[0]?.n)).toBe(0);
    } finally {
      for (const s of extra) await s.close();
    }
  });

  it('claims a scheduled slot once: a second claim of the same drill and slot returns false', async () => {
    const drill = uniqueDrill('slot');
    const slot = '2025-03-02T03:00:00.000Z';
    const mine = makeRecord({ drill, trigger: 'schedule', scheduledFor: slot });
    const theirs = makeRecord({ drill, trigger: 'schedule', scheduledFor: slot });
    const claims = await Promise.all([
      recordRunStart(store.db, startOf(mine)),
      recordRunStart(store.db, startOf(theirs)),
    ]);
    expect(claims.sort()).toEqual([false, true]);
    const next = makeRecord({
      drill,
      trigger: 'schedule',
      scheduledFor: '2025-03-03T03:00:00.000Z',
    });
    expect(await recordRunStart(store.db, startOf(next))).toBe(true);
    // Manual runs have no slot: NULL never conflicts.
    expect(await recordRunStart(store.db, startOf(makeRecord({ drill })))).toBe(true);
    expect(await recordRunStart(store.db, startOf(makeRecord({ drill })))).toBe(true);
  });

  it('refuses a second start with the same run id', async () => {
    const record = makeRecord({ drill: uniqueDrill('dup-start') });
    await recordRunStart(store.db, startOf(record));
    await expect(recordRunStart(store.db, startOf(record))).rejects.toThrow(
      `run ${record.runId} was already started; run ids must be unique`,
    );
  });

  it('refuses a start whose slot does not match its trigger', async () => {
    const record = makeRecord({ drill: uniqueDrill('bad-start') });
    await expect(
      recordRunStart(store.db, startOf(record, { trigger: 'schedule' })),
    ).rejects.toThrow(
      `run start ${record.runId}: scheduledFor: expected a slot time for a scheduled run and null for any other trigger`,
    );
    await expect(
      recordRunStart(store.db, startOf(record, { runId: 'not-a-uuid' })),
    ).rejects.toThrow(/^run start not-a-uuid: runId: /);
  });

  it('refuses a second result for the same run, and keeps the first', async () => {
    const { record, seq, recordHash } = await recordRun({ drill: uniqueDrill('dup-result') });
    const again = { ...record, verdict: 'failed' as const, cause: 'rewritten' };
    await expect(recordRunResult(store.db, again, makeItems(2))).rejects.toThrow(
      `run ${record.runId} already has a result (seq ${seq}); evidence is append-only and is never replaced`,
    );
    expect(await getRun(store.db, record.runId)).toMatchObject({
      record: { verdict: 'passed' },
      recordHash,
    });
    expect(await listRunItems(store.db, record.runId)).toHaveLength(3);
  });

  it('refuses concurrent results for the same run: exactly one lands', async () => {
    const record = makeRecord({ drill: uniqueDrill('race-result') });
    await recordRunStart(store.db, startOf(record));
    const other = dialect === 'postgres' ? await place.open() : undefined;
    try {
      const outcomes = await Promise.allSettled([
        recordRunResult(store.db, record, makeItems(100)),
        recordRunResult((other ?? store).db, record, makeItems(100)),
      ]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const rejected = outcomes.find((o) => o.status === 'rejected');
      expect(String(rejected?.reason)).toMatch(`run ${record.runId} already has a result`);
      expect(await listRunItems(store.db, record.runId)).toHaveLength(100);
    } finally {
      await other?.close();
    }
  });

  it('refuses a result for a run that never started', async () => {
    const record = makeRecord({ drill: uniqueDrill('no-start') });
    await expect(recordRunResult(store.db, record, [])).rejects.toThrow(
      `cannot record the result of run ${record.runId}: no start was recorded for it`,
    );
  });

  it('refuses a result whose drill differs from its start', async () => {
    const record = makeRecord({ drill: uniqueDrill('drill-a') });
    await recordRunStart(store.db, startOf(record));
    await expect(
      recordRunResult(store.db, { ...record, drill: 'someone-else' }, []),
    ).rejects.toThrow(
      `run record ${record.runId}: drill: expected '${record.drill}' (as the run started), got 'someone-else'`,
    );
  });

  it('refuses an invalid record before writing anything, naming the field', async () => {
    const record = makeRecord({ drill: uniqueDrill('invalid') });
    await recordRunStart(store.db, startOf(record));
    const broken = {
      ...record,
      timings: { ...record.timings, totalMs: 'long' },
    } as unknown as typeof record;
    await expect(recordRunResult(store.db, broken, [])).rejects.toThrow(
      `run record ${record.runId}: timings.totalMs: `,
    );
    await expect(
      recordRunResult(store.db, { ...record, startedAt: 'yesterday' }, []),
    ).rejects.toThrow(
      `run record ${record.runId}: startedAt: expected an ISO 8601 time with offset, got 'yesterday'`,
    );
    await expect(
      recordRunResult(store.db, { ...record, restored: { files: 1, bytes: 1.5 } }, []),
    ).rejects.toThrow(
      `run record ${record.runId}: restored.bytes: expected a whole number of bytes, got 1.5`,
    );
    await expect(
      recordRunResult(store.db, { ...record, restored: { files: 1, bytes: Number.NaN } }, []),
    ).rejects.toThrow(/restored\.bytes/);
    expect(await findUnfinishedRuns(store.db)).toContainEqual(
      expect.objectContaining({ runId: record.runId }),
    );
  });

  it('refuses an invalid item, naming its index, and writes nothing of the run', async () => {
    const record = makeRecord({ drill: uniqueDrill('bad-item') });
    await recordRunStart(store.db, startOf(record));
    // A whole batch is written before the bad item: the transaction takes it back.
    const items = [...makeItems(ITEM_BATCH_SIZE + 500), { path: 'x', size: -1, sha256: null }];
    await expect(recordRunResult(store.db, record, items)).rejects.toThrow(
      `run ${record.runId} item ${ITEM_BATCH_SIZE + 500} (x): size: expected a whole number of bytes, got -1`,
    );
    await expect(recordRunResult(store.db, record, [{ path: 7 } as never])).rejects.toThrow(
      `run ${record.runId} item 0: path: `,
    );
    expect(await listRunItems(store.db, record.runId)).toEqual([]);
    expect(await getRun(store.db, record.runId)).toBeUndefined();
  });

  it('finds runs that started and never finished, oldest first', async () => {
    const drill = uniqueDrill('unfinished');
    const done = makeRecord({ drill });
    const crashedLate = makeRecord({ drill, startedAt: '2025-02-02T00:00:00.000Z' });
    const crashedEarly = makeRecord({ drill, startedAt: '2025-02-01T00:00:00.000Z' });
    for (const record of [done, crashedLate, crashedEarly])
      await recordRunStart(store.db, startOf(record));
    await recordRunResult(store.db, done, []);
    const mine = (await findUnfinishedRuns(store.db)).filter((run) => run.drill === drill);
    expect(mine.map((run) => run.runId)).toEqual([crashedEarly.runId, crashedLate.runId]);
    expect(mine[0]).toEqual(startOf(crashedEarly));
  });

  it('round-trips more items than a batch holds, names of any characters, from an async source too', async () => {
    // Array-literal syntax (quotes, braces, backslashes, commas, NULL) must come back as text.
    const odd = [
      'a "quoted" {brace}, \\back\\slash',
      'NULL',
      ' lead and trail ',
      'line\nbreak',
      'ünï 名',
    ];
    const items = [
      ...makeItems(ITEM_BATCH_SIZE + 1),
      ...odd.map((name, i) => ({ path: name, size: i, sha256: i % 2 ? null : 'ab'.repeat(32) })),
    ];
    const { record } = await recordRun({ drill: uniqueDrill('items') }, items);
    const back = await listRunItems(store.db, record.runId);
    expect(back).toHaveLength(items.length);
    expect(back).toEqual(
      [...items].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0)),
    );

    async function* streamed() {
      for (const item of makeItems(2500)) yield item;
    }
    const second = makeRecord({ drill: uniqueDrill('items-async') });
    await recordRunStart(store.db, startOf(second));
    await recordRunResult(store.db, second, streamed());
    expect(await listRunItems(store.db, second.runId)).toHaveLength(2500);
  });

  it('finds a run by a unique id prefix, and names the matches of an ambiguous one', async () => {
    const { record } = await recordRun({ drill: uniqueDrill('prefix') });
    expect((await getRun(store.db, record.runId.slice(0, 13)))?.record.runId).toBe(record.runId);
    expect(await getRun(store.db, record.runId.slice(0, 3))).toBeUndefined();
    expect(await getRun(store.db, 'ffff_%')).toBeUndefined();
    expect(await getRun(store.db, randomUUID())).toBeUndefined();

    const shared = 'abcd1234';
    const twins = [
      `${shared}-0000-4000-8000-000000000001`,
      `${shared}-0000-4000-8000-000000000002`,
    ];
    for (const runId of twins) await recordRun({ runId, drill: uniqueDrill('twin') });
    await expect(getRun(store.db, shared)).rejects.toThrow(
      `run id prefix '${shared}' is ambiguous: it matches ${twins[0]}, ${twins[1]}`,
    );
    expect((await getRun(store.db, twins[1]!))?.record.runId).toBe(twins[1]);
  });

  it('refuses to update evidence: the database itself rejects it', async () => {
    const { record } = await recordRun({ drill: uniqueDrill('immutable') });
    for (const table of ['run_results', 'run_starts', 'run_items']) {
      await expect(
        sql`update ${sql.table(table)} set run_id = run_id where run_id = ${record.runId}`.execute(
          store.db,
        ),
      ).rejects.toThrow(`evidence is append-only: ${table} rows are never updated`);
    }
    expect((await getRun(store.db, record.runId))?.record).toEqual(record);
  });

  it('reports a stored record that no longer parses, naming its seq and run', async () => {
    const { record } = await recordRun({ drill: uniqueDrill('corrupt') });
    // Forged outside restore-drill: a row whose text is not a run record.
    const forged = makeRecord({ drill: uniqueDrill('forged') });
    await recordRunStart(store.db, startOf(forged));
    const row = await sql<{
      seq: string;
    }>`insert into run_results (run_id, drill, verdict, started_at, finished_at, files, bytes, checks_failed,
        restore_ms, verify_ms, total_ms, record, prev_hash, record_hash)
      values (${forged.runId}, ${forged.drill}, 'passed', now(), now(), 0, 0, 0, 0, 0, 0, '{"runId":1}', ${'1'.repeat(64)}, ${'2'.repeat(64)})
      returning seq`.execute(store.db);
    const seq = row.rows[0]?.seq;
    await expect(listRuns(store.db, { drill: [forged.drill] })).rejects.toThrow(
      `stored record seq ${seq} (run ${forged.runId}) is not a valid run record: runId: `,
    );
    await expect(getRun(store.db, forged.runId)).rejects.toThrow(
      `stored record seq ${seq} (run ${forged.runId})`,
    );
    expect((await getRun(store.db, record.runId))?.record).toEqual(record);
    // Leave the shared chain verifiable for the other tests: this forged link is removed.
    // Evidence is append-only (migration 003): only the purge flag lets a DELETE through.
    await store.db.transaction().execute(async (trx) => {
      await sql`select set_config('restore_drill.purge', 'on', true)`.execute(trx);
      await sql`delete from run_results where run_id = ${forged.runId}`.execute(trx);
    });

    const garbled = makeRecord({ drill: uniqueDrill('garbled') });
    await recordRunStart(store.db, startOf(garbled));
    const garbledRow = await sql<{
      seq: string;
    }>`insert into run_results (run_id, drill, verdict, started_at, finished_at, files, bytes, checks_failed,
        restore_ms, verify_ms, total_ms, record, prev_hash, record_hash)
      values (${garbled.runId}, ${garbled.drill}, 'passed', now(), now(), 0, 0, 0, 0, 0, 0, '{"runId":', ${'3'.repeat(64)}, ${'4'.repeat(64)})
      returning seq`.execute(store.db);
    await expect(getRun(store.db, garbled.runId)).rejects.toThrow(
      `stored record seq ${garbledRow.rows[0]?.seq} (run ${garbled.runId}) is not JSON: `,
    );
    await store.db.transaction().execute(async (trx) => {
      await sql`select set_config('restore_drill.purge', 'on', true)`.execute(trx);
      await sql`delete from run_results where run_id = ${garbled.runId}`.execute(trx);
    });
  });
});

describe('evidence runs on postgres with a repeatable-read default', () => {
  it('still keeps one linear chain under concurrent appends from three pools', async () => {
    const place = await postgresEngine.prepare();
    await place.execRaw(`do $$ begin
      execute format('alter database %I set default_transaction_isolation = %L', current_database(), 'repeatable read');
    end $$`);
    const stores = [await place.open(), await place.open(), await place.open()];
    try {
      const [first] = stores;
      const isolation = await sql<{
        level: string;
      }>`select current_setting('transaction_isolation') as level`.execute(first!.db);
      expect(isolation.rows[0]?.level).toBe('repeatable read');
      const records = Array.from({ length: 20 }, () => makeRecord({ drill: 'rr' }));
      for (const record of records) await recordRunStart(first!.db, startOf(record));
      await Promise.all(
        records.map((record, i) => recordRunResult(stores[i % 3]!.db, record, makeItems(10))),
      );
      const rows = await first!.db
        .selectFrom('run_results')
        .select(['prev_hash', 'record_hash'])
        .orderBy('seq')
        .execute();
      expect(rows).toHaveLength(20);
      rows.forEach((row, i) =>
        expect(row.prev_hash).toBe(i === 0 ? GENESIS_HASH : rows[i - 1]!.record_hash),
      );
    } finally {
      for (const store of stores) await store.close();
      await place.cleanup();
    }
  });
});

describe.each(engines)('unfinished runs on %s, in a store of their own', (_dialect, engine) => {
  it(
    'finds none while every start has its result, and exactly the starts left without one',
    async () => {
      const place = await engine.prepare();
      const store = await place.open();
      try {
        const unfinished = async () => (await findUnfinishedRuns(store.db)).map((run) => run.runId);
        expect(await unfinished()).toEqual([]);
        const done = makeRecord({ drill: uniqueDrill('counted') });
        await recordRunStart(store.db, startOf(done));
        expect(await unfinished()).toEqual([done.runId]);
        await recordRunResult(store.db, done, []);
        expect(await unfinished()).toEqual([]);
        const crashed = makeRecord({ drill: done.drill, startedAt: '2025-02-01T00:00:00.000Z' });
        await recordRunStart(store.db, startOf(crashed));
        expect(await unfinished()).toEqual([crashed.runId]);
      } finally {
        await store.close();
        await place.cleanup();
      }
    },
    SLOW_STORE_MS,
  );
});
