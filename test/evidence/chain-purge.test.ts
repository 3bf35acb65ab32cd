import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { listPurges, verifyChain } from '../../src/evidence/chain.js';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import { purgeEvidence, PurgeRefusedError, RetentionFloorError } from '../../src/evidence/purge.js';
import { GENESIS_HASH, recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { engines, type StorePlace } from '../helpers/evidence-engines.js';
import { makeItems, makeRecord, startOf } from '../helpers/run-records.js';

describe.each(engines)('evidence purge on %s', (_dialect, engine) => {
  let place: StorePlace | undefined;
  let store: EvidenceStore | undefined;

  afterEach(async () => {
    await store?.close();
    await place?.cleanup();
    store = undefined;
    place = undefined;
  });

  async function openStore(): Promise<EvidenceStore['db']> {
    place = await engine.prepare();
    store = await place.open();
    return store.db;
  }

  async function addRun(
    db: EvidenceStore['db'],
    startedAt: string,
  ): Promise<{ seq: number; runId: string; recordHash: string }> {
    const record = makeRecord({ startedAt });
    await recordRunStart(db, startOf(record));
    const { seq, recordHash } = await recordRunResult(db, record, makeItems(2));
    return { seq, runId: record.runId, recordHash };
  }

  async function hashOf(
    db: EvidenceStore['db'],
    seq: number,
  ): Promise<{ prev: string; own: string }> {
    const row = await db
      .selectFrom('run_results')
      .select(['prev_hash', 'record_hash'])
      .where('seq', '=', String(seq))
      .executeTakeFirstOrThrow();
    return { prev: row.prev_hash, own: row.record_hash };
  }

  it('removes a prefix of the chain, records where it was cut, and the rest still verifies; new runs and a second purge continue it', async () => {
    const db = await openStore();
    const old = [
      await addRun(db, '2024-01-10T03:00:00Z'),
      await addRun(db, '2024-02-10T03:00:00Z'),
      await addRun(db, '2024-03-10T03:00:00Z'),
    ];
    const kept = [
      await addRun(db, '2026-01-10T03:00:00Z'),
      await addRun(db, '2026-02-10T03:00:00Z'),
    ];
    const now = new Date('2026-03-01T00:00:00Z');
    // Alerts about an old run and about a kept one: the first goes with its run.
    for (const [key, run] of [
      ['old', old[1]],
      ['kept', kept[0]],
    ] as const) {
      const event = await sql<{
        id: string;
      }>`insert into alert_events (dedupe_key, kind, drill, problem_key, run_id, created_at, channels, message)
        values (${key}, 'failing', 'nightly-files', ${key}, ${run?.runId}, now(), 'mail', 'failed') returning id`.execute(
        db,
      );
      await sql`insert into alert_attempts (event_id, channel, attempt, started_at, duration_ms, ok, permanent, detail, host, pid)
        values (${event.rows[0]?.id}, 'mail', 1, now(), 5, true, false, 'sent', 'h', 1)`.execute(
        db,
      );
    }

    const outcome = await purgeEvidence(db, {
      before: new Date('2025-01-01T00:00:00Z'),
      now,
      host: 'auditor-box',
    });
    expect(outcome.verifiedBefore).toMatchObject({ intact: true, records: 5 });
    expect(outcome.starts).toBe(3);
    expect(outcome.alerts).toBe(1);
    const alerts = await sql<{ dedupe_key: string }>`select dedupe_key from alert_events`.execute(
      db,
    );
    expect(alerts.rows.map((row) => row.dedupe_key)).toEqual(['kept']);
    expect((await sql`select id from alert_attempts`.execute(db)).rows).toHaveLength(1);
    expect(outcome.entry).toEqual({
      id: expect.any(Number),
      purgedAt: now.toISOString(),
      cutoff: '2025-01-01T00:00:00.000Z',
      firstSeq: old[0]?.seq,
      lastSeq: old[2]?.seq,
      records: 3,
      items: 6,
      fromHash: GENESIS_HASH,
      anchorHash: old[2]?.recordHash,
      host: 'auditor-box',
      version: expect.any(String),
    });
    expect(
      (await db.selectFrom('run_results').select('run_id').orderBy('seq').execute()).map(
        (row) => row.run_id,
      ),
    ).toEqual(kept.map((run) => run.runId));
    expect(await db.selectFrom('run_items').select('run_id').execute()).toHaveLength(4);
    expect(await db.selectFrom('run_starts').select('run_id').execute()).toHaveLength(2);

    const after = await verifyChain(db);
    expect(after).toMatchObject({
      intact: true,
      records: 2,
      firstSeq: kept[0]?.seq,
      anchor: { kind: 'purge', hash: old[2]?.recordHash, seq: old[2]?.seq },
    });
    expect(after.purges).toEqual([outcome.entry]);

    // The guard is back once the purge's transaction ended.
    await expect(sql`delete from run_results`.execute(db)).rejects.toThrow(
      /evidence is append-only/,
    );

    const later = await addRun(db, '2026-02-20T03:00:00Z');
    expect((await hashOf(db, later.seq)).prev).toBe(kept[1]?.recordHash);
    expect(await verifyChain(db)).toMatchObject({ intact: true, records: 3 });

    const second = await purgeEvidence(db, { before: new Date('2026-02-01T00:00:00Z'), now });
    expect(second.entry).toMatchObject({
      firstSeq: kept[0]?.seq,
      lastSeq: kept[0]?.seq,
      records: 1,
      fromHash: old[2]?.recordHash,
      anchorHash: kept[0]?.recordHash,
    });
    const final = await verifyChain(db);
    expect(final).toMatchObject({
      intact: true,
      records: 2,
      anchor: { kind: 'purge', seq: kept[0]?.seq },
    });
    expect(final.purges).toHaveLength(2);
  });

  it('purges nothing when no run is old enough, and never the newest record', async () => {
    const db = await openStore();
    expect(
      (await purgeEvidence(db, { before: new Date('2030-01-01T00:00:00Z') })).entry,
    ).toBeNull();
    const runs = [
      await addRun(db, '2024-01-10T03:00:00Z'),
      await addRun(db, '2024-02-10T03:00:00Z'),
    ];
    expect(
      (await purgeEvidence(db, { before: new Date('2020-01-01T00:00:00Z') })).entry,
    ).toBeNull();

    const outcome = await purgeEvidence(db, { before: new Date('2030-01-01T00:00:00Z') });
    expect(outcome.entry).toMatchObject({
      firstSeq: runs[0]?.seq,
      lastSeq: runs[0]?.seq,
      records: 1,
    });
    expect(
      (await db.selectFrom('run_results').select('run_id').execute()).map((row) => row.run_id),
    ).toEqual([runs[1]?.runId]);
    expect(
      (await purgeEvidence(db, { before: new Date('2030-01-01T00:00:00Z') })).entry,
    ).toBeNull();

    await addRun(db, '2026-01-01T03:00:00Z');
    expect(await verifyChain(db)).toMatchObject({ intact: true, records: 2 });
  });

  it('refuses a purge that would remove a run younger than the retention floor, removing nothing; one older than it goes', async () => {
    const db = await openStore();
    const runs = [
      await addRun(db, '2018-01-10T03:00:00Z'),
      await addRun(db, '2020-06-10T03:00:00Z'),
      await addRun(db, '2026-02-10T03:00:00Z'),
    ];
    const now = new Date('2026-03-01T00:00:00Z');
    const sevenYears = 7 * 365 * 86_400_000;
    const failure = await purgeEvidence(db, {
      before: new Date('2025-01-01T00:00:00Z'),
      now,
      minimumRetentionMs: sevenYears,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RetentionFloorError);
    expect((failure as Error).message).toBe(
      'refusing to purge: it would remove the evidence of runs started as late as 2020-06-10T03:00:00.000Z, younger than the retention floor evidence.retention.minimum (7y: nothing started after 2019-03-03T00:00:00.000Z may go); nothing was removed',
    );
    expect(await db.selectFrom('run_results').select('seq').execute()).toHaveLength(3);
    expect(await listPurges(db)).toEqual([]);

    const outcome = await purgeEvidence(db, {
      before: new Date('2019-01-01T00:00:00Z'),
      now,
      minimumRetentionMs: sevenYears,
    });
    expect(outcome.entry).toMatchObject({ firstSeq: runs[0]?.seq, lastSeq: runs[0]?.seq });
    expect(await verifyChain(db)).toMatchObject({ intact: true, records: 2 });
  });

  it('refuses to purge a broken chain, removing nothing', async () => {
    const db = await openStore();
    const runs = [
      await addRun(db, '2024-01-10T03:00:00Z'),
      await addRun(db, '2024-02-10T03:00:00Z'),
      await addRun(db, '2026-02-10T03:00:00Z'),
    ];
    await sql`alter table run_results disable trigger run_results_append_only`.execute(db);
    await sql`update run_results set record = replace(record, 'drill-host-1', 'drill-host-2') where seq = ${runs[1]?.seq}`.execute(
      db,
    );
    await sql`alter table run_results enable trigger run_results_append_only`.execute(db);

    const failure = await purgeEvidence(db, { before: new Date('2025-01-01T00:00:00Z') }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(PurgeRefusedError);
    expect((failure as Error).message).toBe(
      `refusing to purge: the evidence chain is broken (seq ${runs[1]?.seq} (run ${runs[1]?.runId}): the record text was altered: it no longer hashes to its record_hash); purging could destroy the evidence of it. Export it (restore-drill evidence export) and investigate first`,
    );
    expect(await db.selectFrom('run_results').select('seq').execute()).toHaveLength(3);
    expect(await listPurges(db)).toEqual([]);
  });

  it('names a purge record that was removed or forged', async () => {
    const db = await openStore();
    const runs = [
      await addRun(db, '2024-01-10T03:00:00Z'),
      await addRun(db, '2024-02-10T03:00:00Z'),
      await addRun(db, '2026-02-10T03:00:00Z'),
    ];
    await purgeEvidence(db, { before: new Date('2025-01-01T00:00:00Z') });

    await sql`alter table evidence_purges disable trigger evidence_purges_append_only`.execute(db);
    await sql`create temp table saved_purges as select * from evidence_purges`.execute(db);
    await sql`delete from evidence_purges`.execute(db);
    const removed = await verifyChain(db);
    expect(removed.break).toMatchObject({ problem: 'gap', seq: runs[2]?.seq, field: 'prev_hash' });
    expect(removed.break?.message).toContain(`records before seq ${runs[2]?.seq} are missing`);

    await sql`insert into evidence_purges (purged_at, cutoff, first_seq, last_seq, records, items, from_hash, anchor_hash, host, version)
      select purged_at, cutoff, first_seq, last_seq, records, items, ${'1'.repeat(64)}, anchor_hash, host, version from saved_purges`.execute(
      db,
    );
    await sql`alter table evidence_purges enable trigger evidence_purges_append_only`.execute(db);
    const forged = await verifyChain(db);
    expect(forged.break).toMatchObject({
      problem: 'purge-log-broken',
      field: 'from_hash',
      expected: GENESIS_HASH,
      actual: '1'.repeat(64),
    });
    expect(forged.break?.message).toMatch(
      /^purge \d+ \(seq \d+ to \d+, .*\) does not start from the genesis hash: a purge record is missing or was changed$/,
    );
  });
});
