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
import {
  latestSelftests,
  recordSelftest,
  type SelftestRecord,
} from '../../src/evidence/selftests.js';
import { recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { engines, SLOW_STORE_MS, type StorePlace } from '../helpers/evidence-engines.js';
import { makeItems, makeRecord, startOf, withItems } from '../helpers/run-records.js';

function selftestRecord(drill: string, startedAt: string, undetected = 0): SelftestRecord {
  return {
    kind: 'selftest',
    runId: `${drill}-${startedAt}`,
    drill,
    verdict: undetected === 0 ? 'passed' : 'failed',
    cause: null,
    startedAt,
    finishedAt: startedAt,
    durationMs: 1200,
    set: { id: '/backups/set-1', path: '/backups/set-1' },
    sampled: false,
    damages: [
      { kind: 'flipped-byte', target: 'a.txt (byte 3)', detected: true, by: ['checks.manifest'] },
      ...Array.from({ length: undetected }, () => ({
        kind: 'added-file',
        target: 'selftest-added-file.txt',
        detected: false,
        by: [],
        finding: 'this drill would not notice an added file: add checks.manifest',
      })),
    ],
    host: 'h',
    version: '0.0.0',
    configHash: 'c'.repeat(64),
  };
}

describe.each(engines)('selftest records in the evidence chain on %s', (_dialect, engine) => {
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

  async function addRun(db: EvidenceStore['db'], startedAt: string): Promise<number> {
    const items = makeItems(2);
    const record = withItems(makeRecord({ startedAt }), items);
    await recordRunStart(db, startOf(record));
    return (await recordRunResult(db, record, items)).seq;
  }

  it('chains selftests between runs, keeps the latest per drill, and names an edited column or text', async () => {
    const db = await openStore();
    await addRun(db, '2026-01-10T03:00:00Z');
    const first = await recordSelftest(db, selftestRecord('nightly', '2026-01-10T04:00:00Z', 2));
    const latest = await recordSelftest(db, selftestRecord('nightly', '2026-01-11T04:00:00Z'));
    const next = await addRun(db, '2026-01-12T03:00:00Z');
    expect(next).toBe(latest.seq + 1);
    expect(await verifyChain(db)).toMatchObject({ intact: true, records: 4 });
    const byDrill = await latestSelftests(db);
    expect([...byDrill.keys()]).toEqual(['nightly']);
    expect(byDrill.get('nightly')).toMatchObject({ seq: latest.seq, verdict: 'passed' });
    expect(first.verdict).toBe('failed');

    await expect(
      recordSelftest(db, { ...selftestRecord('x', 'now'), durationMs: 1.5 }),
    ).rejects.toThrow(EvidenceError);
    const refused = await sql`delete from selftests`.execute(db).then(
      () => 'accepted',
      (error: Error) => error.message,
    );
    expect(refused).toMatch(/append-only/);

    const bypassing = async (statement: ReturnType<typeof sql>) => {
      await sql`alter table selftests disable trigger selftests_no_update`.execute(db);
      try {
        await statement.execute(db);
      } finally {
        await sql`alter table selftests enable trigger selftests_no_update`.execute(db);
      }
    };
    await bypassing(sql`update selftests set undetected = 0 where seq = ${String(first.seq)}`);
    expect((await verifyChain(db)).break).toMatchObject({
      problem: 'column-mismatch',
      seq: first.seq,
      field: 'undetected',
      message: `seq ${first.seq} (selftest ${first.runId}): column undetected holds 0 but the record says 2`,
    });
    await bypassing(
      sql`update selftests set undetected = 2, record = replace(record, '"detected":false', '"detected":true') where seq = ${String(first.seq)}`,
    );
    expect((await verifyChain(db)).break).toMatchObject({
      problem: 'record-altered',
      seq: first.seq,
    });
  });

  it('exports selftests in chain order, the bundle verifies offline; a purge cuts old ones and keeps young ones', async () => {
    const db = await openStore();
    await addRun(db, '2018-01-10T03:00:00Z');
    await recordSelftest(db, selftestRecord('nightly', '2018-01-10T04:00:00Z'));
    const young = await recordSelftest(db, selftestRecord('nightly', '2026-01-10T04:00:00Z', 1));
    const kept = await addRun(db, '2026-01-11T03:00:00Z');
    dir = await mkdtemp(join(tmpdir(), 'restore-drill-selftests-'));
    const bundle = join(dir, 'bundle.jsonl');
    const out = createWriteStream(bundle);
    expect(await exportEvidence(db, out, { items: true })).toMatchObject({ records: 4, items: 4 });
    out.end();
    await finished(out);
    const lines = (await readFile(bundle, 'utf8')).trimEnd().split('\n');
    const kinds = lines.map((line) => {
      const parsed = JSON.parse(line) as { kind?: string; type: string };
      return parsed.kind ?? parsed.type;
    });
    expect(kinds).toEqual([
      'header',
      'run',
      'item',
      'item',
      'selftest',
      'selftest',
      'run',
      'item',
      'item',
    ]);
    expect(await verifyBundle(bundle)).toMatchObject({ intact: true, records: 4 });
    const relabelled = lines.map((line) => line.replace('"kind":"selftest"', '"kind":"review"'));
    await writeFile(bundle, `${relabelled.join('\n')}\n`);
    expect((await verifyBundle(bundle)).break).toMatchObject({
      problem: 'column-mismatch',
      field: 'kind',
    });

    const outcome = await purgeEvidence(db, {
      before: new Date('2025-01-01T00:00:00Z'),
      now: new Date('2026-02-01T00:00:00Z'),
      minimumRetentionMs: 365 * 86_400_000,
    });
    expect(outcome.entry).toMatchObject({ lastSeq: young.seq - 1, records: 2 });
    expect((await latestSelftests(db)).get('nightly')?.seq).toBe(young.seq);
    expect(await verifyChain(db)).toMatchObject({ intact: true, records: 2, firstSeq: young.seq });
    expect(kept).toBe(young.seq + 1);
  });
});
