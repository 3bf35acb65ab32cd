import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyBundle, verifyChain } from '../../src/evidence/chain.js';
import { EvidenceError } from '../../src/evidence/errors.js';
import { exportEvidence } from '../../src/evidence/export.js';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import { purgeEvidence } from '../../src/evidence/purge.js';
import { latestReviews, listReviews, recordReview } from '../../src/evidence/reviews.js';
import { recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { engines, SLOW_STORE_MS, type StorePlace } from '../helpers/evidence-engines.js';
import { makeItems, makeRecord, startOf, withItems } from '../helpers/run-records.js';

describe.each(engines)('sign-off reviews in the evidence chain on %s', (_dialect, engine) => {
  let place: StorePlace | undefined;
  let store: EvidenceStore | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await store?.close();
    await place?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
    store = undefined;
    place = undefined;
    dir = undefined;
  }, SLOW_STORE_MS);

  async function openStore(): Promise<EvidenceStore['db']> {
    place = await engine.prepare();
    store = await place.open();
    return store.db;
  }

  async function addRun(
    db: EvidenceStore['db'],
    startedAt: string,
    verdict: 'passed' | 'failed' = 'passed',
  ): Promise<{ seq: number; runId: string }> {
    const items = makeItems(2);
    const record = withItems(makeRecord({ startedAt, verdict }), items);
    await recordRunStart(db, startOf(record));
    const { seq } = await recordRunResult(db, record, items);
    return { seq, runId: record.runId };
  }

  const review = (runId: string, by: string, decision: 'accepted' | 'remediation') => ({
    runId,
    by,
    decision,
    note: `reviewed by ${by}`,
    ticket: decision === 'remediation' ? 'OPS-12' : null,
    via: 'cli' as const,
  });

  it('chains reviews between runs: several reviews of a run stand in order, the next run links to the last review, the chain verifies', async () => {
    const db = await openStore();
    const failed = await addRun(db, '2026-01-10T03:00:00Z', 'failed');
    const first = await recordReview(db, review(failed.runId.slice(0, 8), 'alice', 'remediation'), {
      now: new Date('2026-01-11T09:00:00Z'),
    });
    const second = await recordReview(db, review(failed.runId, 'bob', 'accepted'), {
      now: new Date('2026-01-12T09:00:00Z'),
    });
    const next = await addRun(db, '2026-01-13T03:00:00Z');
    expect(first).toMatchObject({
      kind: 'review',
      runId: failed.runId,
      verdict: 'failed',
      by: 'alice',
      decision: 'remediation',
      ticket: 'OPS-12',
      reviewedAt: '2026-01-11T09:00:00.000Z',
    });
    expect(first.seq).toBeGreaterThan(failed.seq);
    expect(second.seq).toBeGreaterThan(first.seq);
    expect(next.seq).toBeGreaterThan(second.seq);
    const nextRow = await db
      .selectFrom('run_results')
      .select('prev_hash')
      .where('seq', '=', String(next.seq))
      .executeTakeFirstOrThrow();
    expect(nextRow.prev_hash).toBe(second.recordHash);

    const report = await verifyChain(db, { items: true, batchSize: 2 });
    expect(report).toMatchObject({ intact: true, records: 4, break: null });
    expect(report.head).toEqual({ seq: next.seq, recordHash: expect.any(String) });
    expect((await listReviews(db, [failed.runId])).map((r) => r.by)).toEqual(['alice', 'bob']);
    expect((await latestReviews(db, [failed.runId, next.runId])).get(failed.runId)?.by).toBe('bob');
  });

  it('refuses an unknown run and bad input with one line naming what is wrong, and never edits a review', async () => {
    const db = await openStore();
    const run = await addRun(db, '2026-01-10T03:00:00Z', 'failed');
    const unknown = await recordReview(db, review('0000dead', 'alice', 'accepted')).catch(
      (error: unknown) => error,
    );
    expect(unknown).toBeInstanceOf(EvidenceError);
    expect(unknown).toMatchObject({
      code: 'unknown-run',
      message: "no finished run '0000dead' in the evidence database to sign off",
    });
    const blank = await recordReview(db, { ...review(run.runId, ' ', 'accepted') }).catch(
      (error: unknown) => error,
    );
    expect(blank).toMatchObject({
      code: 'invalid-record',
      message: `review of run ${run.runId}: by: expected a reviewer name, got an empty string`,
    });
    const noRun = await recordReview(db, review('', 'alice', 'accepted')).catch(
      (error: unknown) => error,
    );
    expect(noRun).toMatchObject({
      code: 'invalid-record',
      message: 'review: runId: expected a run id or a unique prefix of it, got an empty string',
    });
    await recordReview(db, review(run.runId, 'alice', 'accepted'));
    const update = await sql`update run_reviews set reviewer = 'mallory'`
      .execute(db)
      .catch((error: unknown) => error);
    expect((update as Error).message).toMatch(/append-only/);
    const remove = await sql`delete from run_reviews`.execute(db).catch((error: unknown) => error);
    expect((remove as Error).message).toMatch(/append-only: DELETE on run_reviews is refused/);
    expect((await listReviews(db)).map((r) => r.by)).toEqual(['alice']);
  });

  it('names an edited review: its text, and a copied column', async () => {
    const db = await openStore();
    const run = await addRun(db, '2026-01-10T03:00:00Z', 'failed');
    const signed = await recordReview(db, review(run.runId, 'alice', 'accepted'));
    await addRun(db, '2026-01-11T03:00:00Z');
    const bypassing = async (statement: ReturnType<typeof sql>) => {
      await sql`alter table run_reviews disable trigger run_reviews_no_update`.execute(db);
      try {
        await statement.execute(db);
      } finally {
        await sql`alter table run_reviews enable trigger run_reviews_no_update`.execute(db);
      }
    };
    await bypassing(sql`update run_reviews set reviewer = 'mallory'`);
    const column = await verifyChain(db);
    expect(column.break).toMatchObject({
      problem: 'column-mismatch',
      seq: signed.seq,
      runId: run.runId,
      field: 'reviewer',
      message: `seq ${signed.seq} (review of run ${run.runId}): column reviewer holds 'mallory' but the record says 'alice'`,
    });
    await bypassing(
      sql`update run_reviews set reviewer = 'alice', record = replace(record, '"decision":"accepted"', '"decision":"risk-accepted"')`,
    );
    const altered = await verifyChain(db);
    expect(altered.intact).toBe(false);
    expect(altered.break).toMatchObject({
      problem: 'record-altered',
      seq: signed.seq,
      runId: run.runId,
      message: `seq ${signed.seq} (review of run ${run.runId}): the record text was altered: it no longer hashes to its record_hash`,
    });
    expect(altered.records).toBe(1);
  });

  it('exports reviews in chain order; the bundle verifies offline and names an edited review line', async () => {
    const db = await openStore();
    const run = await addRun(db, '2026-01-10T03:00:00Z', 'failed');
    const signed = await recordReview(db, review(run.runId, 'alice', 'remediation'));
    await addRun(db, '2026-01-11T03:00:00Z');
    dir = await mkdtemp(join(tmpdir(), 'restore-drill-reviews-'));
    const bundle = join(dir, 'bundle.jsonl');
    const out = createWriteStream(bundle);
    const written = await exportEvidence(db, out, { items: true });
    out.end();
    await finished(out);
    expect(written).toMatchObject({ records: 3, items: 4 });
    const lines = (await readFile(bundle, 'utf8')).trimEnd().split('\n');
    expect(
      lines.map(
        (line) =>
          (JSON.parse(line) as { kind?: string; type: string }).kind ??
          (JSON.parse(line) as { type: string }).type,
      ),
    ).toEqual(['header', 'run', 'item', 'item', 'review', 'run', 'item', 'item']);
    expect(await verifyBundle(bundle)).toMatchObject({
      intact: true,
      records: 3,
      items: { differing: 0 },
    });

    const edited = lines.map((line) =>
      line.includes('"kind":"review"')
        ? line.replace('reviewed by alice', 'reviewed by Alice')
        : line,
    );
    await writeFile(bundle, `${edited.join('\n')}\n`);
    const broken = await verifyBundle(bundle);
    expect(broken.break).toMatchObject({
      problem: 'record-altered',
      seq: signed.seq,
      runId: run.runId,
      line: 5,
    });
    expect(broken.break?.message).toContain(`(review of run ${run.runId})`);

    // A review line passed off as a run's result is caught: the record says what it is.
    const relabelled = lines.map((line) => line.replace('"kind":"review"', '"kind":"run"'));
    await writeFile(bundle, `${relabelled.join('\n')}\n`);
    expect((await verifyBundle(bundle)).break).toMatchObject({
      problem: 'column-mismatch',
      field: 'kind',
      seq: signed.seq,
    });
  });

  it('a purge removes the reviews in the prefix it cuts; a later review of a removed run stays and the chain still verifies', async () => {
    const db = await openStore();
    const old = await addRun(db, '2018-01-10T03:00:00Z', 'failed');
    await recordReview(db, review(old.runId, 'alice', 'remediation'));
    const kept = await addRun(db, '2026-01-10T03:00:00Z');
    const late = await recordReview(db, review(old.runId, 'bob', 'accepted'));
    const outcome = await purgeEvidence(db, {
      before: new Date('2025-01-01T00:00:00Z'),
      now: new Date('2026-02-01T00:00:00Z'),
      minimumRetentionMs: 365 * 86_400_000,
    });
    expect(outcome.entry).toMatchObject({ firstSeq: old.seq, lastSeq: kept.seq - 1, records: 2 });
    expect((await listReviews(db)).map((r) => r.seq)).toEqual([late.seq]);
    expect(await verifyChain(db)).toMatchObject({
      intact: true,
      records: 2,
      firstSeq: kept.seq,
      head: { seq: late.seq, recordHash: late.recordHash },
    });
  });
});
