import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain, type ChainReport } from '../../src/evidence/chain.js';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import { GENESIS_HASH, recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { engines, type StorePlace } from '../helpers/evidence-engines.js';
import { makeItems, makeRecord, startOf, withItems } from '../helpers/run-records.js';

/** The error a statement raised, or undefined when it succeeded. */
async function refusal(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

describe.each(engines)('evidence chain on %s', (_dialect, engine) => {
  let place: StorePlace;
  let store: EvidenceStore;
  let db: EvidenceStore['db'];
  /** The five runs in the store, by seq; the third failed. */
  const runs: { seq: number; runId: string }[] = [];

  beforeAll(async () => {
    place = await engine.prepare();
    store = await place.open();
    db = store.db;
    expect(await verifyChain(db)).toMatchObject({
      intact: true,
      records: 0,
      head: null,
      break: null,
      anchor: { kind: 'genesis' },
    });
    for (let i = 0; i < 5; i++) {
      const items = makeItems(2);
      const record = withItems(
        makeRecord({
          startedAt: new Date(Date.UTC(2025, 0, 1 + i, 3)).toISOString(),
          verdict: i === 2 ? 'failed' : 'passed',
          cause: i === 2 ? 'manifest: 1 file changed (a.txt)' : null,
        }),
        items,
      );
      await recordRunStart(db, startOf(record));
      const { seq } = await recordRunResult(db, record, items);
      runs.push({ seq, runId: record.runId });
    }
  });

  afterAll(async () => {
    await store?.close();
    await place?.cleanup();
  });

  const run = (index: number) => runs[index] as { seq: number; runId: string };

  /** Runs `statement` with one append-only trigger switched off, as a superuser could. */
  async function bypassingGuard(
    table: string,
    trigger: string,
    statement: ReturnType<typeof sql>,
  ): Promise<void> {
    await sql`alter table ${sql.table(table)} disable trigger ${sql.id(trigger)}`.execute(db);
    try {
      await statement.execute(db);
    } finally {
      await sql`alter table ${sql.table(table)} enable trigger ${sql.id(trigger)}`.execute(db);
    }
  }

  /**
   * Tampers with one row of run_results behind the guard, hands the verification
   * to `check`, then puts the row back as it was and expects the chain intact again.
   */
  async function tampered(
    seq: number,
    change: ReturnType<typeof sql>,
    check: (report: ChainReport) => void,
  ): Promise<void> {
    await sql`create temp table saved_row as select * from run_results where seq = ${seq}`.execute(
      db,
    );
    try {
      await bypassingGuard('run_results', 'run_results_append_only', change);
      check(await verifyChain(db, { batchSize: 2 }));
    } finally {
      await bypassingGuard(
        'run_results',
        'run_results_no_delete',
        sql`delete from run_results where seq = ${seq}`,
      );
      await sql`insert into run_results overriding system value select * from saved_row`.execute(
        db,
      );
      await sql`drop table saved_row`.execute(db);
    }
    expect((await verifyChain(db)).intact).toBe(true);
  }

  it('verifies an intact chain from the genesis hash and reports its head', async () => {
    const report = await verifyChain(db, { batchSize: 2 });
    const head = await db
      .selectFrom('run_results')
      .select(['seq', 'record_hash'])
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    expect(report).toEqual({
      intact: true,
      source: 'database',
      records: 5,
      firstSeq: run(0).seq,
      lastSeq: run(4).seq,
      anchor: { kind: 'genesis', hash: GENESIS_HASH, seq: null },
      head: { seq: Number(head.seq), recordHash: head.record_hash },
      purges: [],
      unusedSeqs: 0,
      break: null,
      items: null,
    });
  });

  it('recomputes every run’s itemsDigest from run_items and names the run and item a changed row breaks', async () => {
    expect(await verifyChain(db, { items: true, batchSize: 2 })).toMatchObject({
      intact: true,
      items: { runs: 5, items: 10, differing: 0, problems: [] },
    });
    const victim = run(3);
    await sql`create temp table saved_items as select * from run_items where run_id = ${victim.runId}`.execute(
      db,
    );
    try {
      await bypassingGuard(
        'run_items',
        'run_items_append_only',
        sql`update run_items set sha256 = ${'e'.repeat(64)} where run_id = ${victim.runId} and path = 'dir-1/file-000001.dat'`,
      );
      const edited = await verifyChain(db, { items: true });
      expect(edited.intact).toBe(false);
      expect(edited.break).toBeNull();
      expect(edited.items?.problems.map((problem) => problem.message)).toEqual([
        `seq ${victim.seq} (run ${victim.runId}): items do not match the record's itemsDigest: an item's size or SHA-256 was changed (2 run_items rows for 2 files, the paths the record lists)`,
      ]);
      await bypassingGuard(
        'run_items',
        'run_items_no_delete',
        sql`delete from run_items where run_id = ${victim.runId} and path = 'dir-1/file-000001.dat'`,
      );
      const deleted = await verifyChain(db, { items: true });
      expect(deleted.items?.problems.map((problem) => problem.message)).toEqual([
        `seq ${victim.seq} (run ${victim.runId}): items do not match the record's itemsDigest: item 'dir-1/file-000001.dat' missing (1 run_items rows for 2 files)`,
      ]);
      // The chain alone (what purge checks) does not read items.
      expect((await verifyChain(db)).intact).toBe(true);
    } finally {
      await bypassingGuard(
        'run_items',
        'run_items_no_delete',
        sql`delete from run_items where run_id = ${victim.runId}`,
      );
      await sql`insert into run_items select * from saved_items`.execute(db);
      await sql`drop table saved_items`.execute(db);
    }
    expect((await verifyChain(db, { items: true })).intact).toBe(true);
  });

  it('refuses a direct UPDATE, DELETE or TRUNCATE of every evidence table', async () => {
    for (const table of ['run_starts', 'run_results', 'run_items']) {
      expect(
        await refusal(sql`update ${sql.table(table)} set run_id = run_id`.execute(db)),
      ).toMatch(/evidence is append-only/);
      expect(await refusal(sql`delete from ${sql.table(table)}`.execute(db))).toBe(
        `evidence is append-only: DELETE on ${table} is refused; old evidence is removed only by restore-drill evidence purge`,
      );
      expect(await refusal(sql`truncate ${sql.table(table)} cascade`.execute(db))).toMatch(
        /evidence is append-only: TRUNCATE on/,
      );
    }
    expect(await db.selectFrom('run_results').select('seq').execute()).toHaveLength(5);
    expect(await db.selectFrom('run_items').select('path').execute()).toHaveLength(10);
    expect((await verifyChain(db)).intact).toBe(true);
  });

  it('refuses a DELETE after the purge flag was set in an earlier transaction (the flag is transaction-local)', async () => {
    await sql`select set_config('restore_drill.purge', 'on', true)`.execute(db);
    expect(await refusal(sql`delete from run_items`.execute(db))).toMatch(
      /evidence is append-only/,
    );
  });

  it('refuses changes to the purge log', async () => {
    expect(await refusal(sql`update evidence_purges set host = 'x'`.execute(db))).toMatch(
      /the evidence purge log is append-only: UPDATE/,
    );
    expect(await refusal(sql`delete from evidence_purges`.execute(db))).toMatch(
      /the evidence purge log is append-only: DELETE/,
    );
    expect(await refusal(sql`truncate evidence_purges`.execute(db))).toMatch(
      /the evidence purge log is append-only: TRUNCATE/,
    );
  });

  it('names the record whose text was changed behind the guard', async () => {
    await tampered(
      run(2).seq,
      sql`update run_results set record = replace(record, '"cause":"manifest', '"cause":"MANIFEST') where seq = ${run(2).seq}`,
      (report) => {
        expect(report.intact).toBe(false);
        expect(report.break).toMatchObject({
          problem: 'record-altered',
          seq: run(2).seq,
          runId: run(2).runId,
          field: 'record',
        });
        expect(report.break?.message).toBe(
          `seq ${run(2).seq} (run ${run(2).runId}): the record text was altered: it no longer hashes to its record_hash`,
        );
        expect(report.records).toBe(2);
        expect(report.head?.seq).toBe(run(1).seq);
      },
    );
  });

  it('tells a changed record_hash from a changed record text', async () => {
    await tampered(
      run(1).seq,
      sql`update run_results set record_hash = ${'e'.repeat(64)} where seq = ${run(1).seq}`,
      (report) => {
        expect(report.break).toMatchObject({
          problem: 'hash-altered',
          seq: run(1).seq,
          runId: run(1).runId,
          field: 'record_hash',
          actual: 'e'.repeat(64),
        });
      },
    );
  });

  it('names the next record when a record was rewritten with a recomputed hash', async () => {
    // A careful forger recomputes the record's own hash: the next record's prev_hash still points to the old one.
    const forged = sql`replace(record, '"host":"drill-host-1"', '"host":"elsewhere"')`;
    await tampered(
      run(1).seq,
      sql`update run_results set record = ${forged}, record_hash = encode(sha256(convert_to(prev_hash || chr(10) || ${forged}, 'UTF8')), 'hex') where seq = ${run(1).seq}`,
      (report) => {
        expect(report.break).toMatchObject({
          problem: 'link-broken',
          seq: run(2).seq,
          runId: run(2).runId,
          field: 'prev_hash',
        });
        expect(report.break?.message).toBe(
          `seq ${run(2).seq} (run ${run(2).runId}): prev_hash does not match the record_hash of seq ${run(1).seq}: the link was changed`,
        );
      },
    );
  });

  it('names the gap when a record was deleted behind the guard', async () => {
    await sql`create temp table saved_row as select * from run_results where seq = ${run(3).seq}`.execute(
      db,
    );
    await bypassingGuard(
      'run_results',
      'run_results_no_delete',
      sql`delete from run_results where seq = ${run(3).seq}`,
    );
    const report = await verifyChain(db);
    await sql`insert into run_results overriding system value select * from saved_row`.execute(db);
    await sql`drop table saved_row`.execute(db);
    expect(report.break).toMatchObject({
      problem: 'gap',
      seq: run(4).seq,
      runId: run(4).runId,
      field: 'seq',
    });
    expect(report.break?.message).toBe(
      `gap before seq ${run(4).seq} (run ${run(4).runId}): seq ${run(3).seq} is missing; its prev_hash does not match the record_hash of seq ${run(2).seq}`,
    );
    expect((await verifyChain(db)).intact).toBe(true);
  });

  it('names missing records at the start when the first was deleted and no purge is recorded', async () => {
    await sql`create temp table saved_row as select * from run_results where seq = ${run(0).seq}`.execute(
      db,
    );
    await bypassingGuard(
      'run_results',
      'run_results_no_delete',
      sql`delete from run_results where seq = ${run(0).seq}`,
    );
    const report = await verifyChain(db);
    await sql`insert into run_results overriding system value select * from saved_row`.execute(db);
    await sql`drop table saved_row`.execute(db);
    expect(report.break).toMatchObject({ problem: 'gap', seq: run(1).seq, field: 'prev_hash' });
    expect(report.break?.message).toContain(`records before seq ${run(1).seq} are missing`);
    expect((await verifyChain(db)).intact).toBe(true);
  });

  it('names a copied column that no longer matches its record', async () => {
    await tampered(
      run(2).seq,
      sql`update run_results set verdict = 'passed' where seq = ${run(2).seq}`,
      (report) => {
        expect(report.break).toMatchObject({
          problem: 'column-mismatch',
          seq: run(2).seq,
          runId: run(2).runId,
          field: 'verdict',
          expected: "'failed'",
          actual: "'passed'",
        });
        expect(report.break?.message).toBe(
          `seq ${run(2).seq} (run ${run(2).runId}): column verdict holds 'passed' but the record says 'failed'`,
        );
      },
    );
  });

  it('checks the copied times and sizes too', async () => {
    await tampered(
      run(4).seq,
      sql`update run_results set started_at = started_at + interval '1 day' where seq = ${run(4).seq}`,
      (report) => {
        expect(report.break).toMatchObject({
          problem: 'column-mismatch',
          seq: run(4).seq,
          field: 'started_at',
        });
      },
    );
    await tampered(
      run(4).seq,
      sql`update run_results set bytes = bytes + 1 where seq = ${run(4).seq}`,
      (report) => {
        expect(report.break).toMatchObject({
          problem: 'column-mismatch',
          seq: run(4).seq,
          field: 'bytes',
          expected: '1002',
          actual: '1003',
        });
      },
    );
  });

  it('a record whose text is not JSON but whose hash matches is named as unreadable', async () => {
    const text = sql`'not json'`;
    await tampered(
      run(4).seq,
      sql`update run_results set record = ${text}, record_hash = encode(sha256(convert_to(prev_hash || chr(10) || ${text}, 'UTF8')), 'hex') where seq = ${run(4).seq}`,
      (report) => {
        expect(report.break).toMatchObject({
          problem: 'record-unreadable',
          seq: run(4).seq,
          field: 'record',
        });
      },
    );
  });
});
