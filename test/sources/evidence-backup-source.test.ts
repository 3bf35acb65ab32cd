import { createHash, randomUUID } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drillRequest } from '../helpers/drill-request.js';
import { parseConfig } from '../../src/config/load.js';
import { runDrill } from '../../src/drill/run-drill.js';
import { backupEvidence, type BackupManifest } from '../../src/evidence/backup.js';
import { evidenceBackupJob } from '../../jobs/evidence-backup.js';
import type { RunLeases } from '../../src/schedule/run-leases.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { itemsDigest } from '../../src/evidence/items-digest.js';
import { recordReview } from '../../src/evidence/reviews.js';
import { recordSelftest } from '../../src/evidence/selftests.js';
import { recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { makeRecord, startOf } from '../helpers/run-records.js';
import { tempDir } from '../helpers/temp.js';
import { dialects, openTestStore, type TestStore } from '../helpers/test-store.js';

async function addRun(store: TestStore, overrides: Partial<RunRecord> = {}): Promise<RunRecord> {
  const items = [
    { path: 'a.txt', size: 1, sha256: 'a'.repeat(64) },
    { path: 'b.txt', size: 2, sha256: 'b'.repeat(64) },
  ];
  const record = makeRecord({
    ...overrides,
    restored: { files: 2, bytes: 3 },
    itemsDigest: itemsDigest(items),
  });
  await recordRunStart(store.store.db, startOf(record));
  await recordRunResult(store.store.db, record, items);
  return record;
}

describe.each(dialects)('evidence-backup source on %s', { timeout: 60_000 }, (dialect) => {
  let live: TestStore;
  let other: TestStore;
  let base: string;
  const runs: RunRecord[] = [];

  beforeAll(async () => {
    live = await openTestStore(dialect);
    other = await openTestStore(dialect);
    base = await tempDir('restore-drill-evidence-backup-');
    runs.push(await addRun(live, { drill: 'nightly', verdict: 'failed' }));
    await recordReview(live.store.db, {
      runId: runs[0]?.runId as string,
      by: 'alice',
      decision: 'remediation',
      note: 'fixed the job',
      via: 'cli',
    });
    await recordSelftest(live.store.db, {
      kind: 'selftest',
      runId: randomUUID(),
      drill: 'nightly',
      verdict: 'passed',
      cause: null,
      startedAt: '2026-01-10T04:00:00.000Z',
      finishedAt: '2026-01-10T04:00:05.000Z',
      durationMs: 5000,
      set: { id: 'set-1', path: '/backups/set-1' },
      sampled: false,
      damages: [{ kind: 'flipped-byte', target: 'a.txt', detected: true, by: ['checks.manifest'] }],
      host: 'test-host',
      version: '0.1.0',
      configHash: 'c'.repeat(64),
    });
    runs.push(await addRun(live, { drill: 'nightly' }));
  }, SLOW_STORE_MS);
  afterAll(async () => {
    await live?.cleanup();
    await other?.cleanup();
  }, SLOW_STORE_MS);

  /** Runs the drill `evidence` over the backups in `dir` against the live store. */
  async function drill(dir: string) {
    const yaml = stringify({
      scratch: { root: path.join(base, 'scratch'), keep: 'never' },
      drills: [{ name: 'evidence', source: { kind: 'evidence-backup', path: `${dir}/*` } }],
    });
    const loaded = parseConfig(yaml, path.join(base, 'restore-drill.yaml'), {}, base);
    const result = await runDrill(drillRequest(loaded, 'evidence', live.store.db));
    if (result.status !== 'finished') throw new Error(`drill did not finish: ${result.status}`);
    return result.record;
  }

  it('passes on a healthy backup', async () => {
    const out = path.join(base, 'healthy');
    const backup = await backupEvidence(live.store.db, { out, dialect });
    expect(backup.manifest.chain).toMatchObject({
      records: 4,
      runs: 2,
      reviews: 1,
      selftests: 1,
      items: 4,
    });

    const record = await drill(out);
    expect(record.cause).toBeNull();
    expect(record.verdict).toBe('passed');
    expect(record.set?.path).toBe(backup.path);
    expect(record.restored.files).toBe(2);
    const checks = Object.fromEntries(record.checks.map((check) => [check.name, check]));
    expect(checks.evidenceManifest?.verdict).toBe('passed');
    expect(checks.evidenceChain?.verdict).toBe('passed');
    expect(checks.evidenceRestore).toMatchObject({
      verdict: 'passed',
      actual: { runs: 2, reviews: 1, selftests: 1, items: 4, head: backup.manifest.chain.head },
    });
    expect(checks.evidenceLive).toMatchObject({
      verdict: 'passed',
      actual: { compared: 4, backupHead: backup.manifest.chain.head },
    });
  });

  it('still passes when the live chain has moved on since the backup (a backup may lag)', async () => {
    const backup = await backupEvidence(live.store.db, {
      out: path.join(base, 'lagging'),
      dialect,
    });
    await addRun(live, { drill: 'nightly' });
    const record = await drill(path.join(base, 'lagging'));
    expect(record.cause).toBeNull();
    expect(record.verdict).toBe('passed');
    const lagging = record.checks.find((check) => check.name === 'evidenceLive');
    expect(lagging?.actual).toMatchObject({
      liveRecordsAfter: 1,
      backupHead: backup.manifest.chain.head,
    });
    expect(lagging?.detail).toMatch(/lags the live head by 1 record$/);
  });

  it('fails naming the record when one record in the bundle was edited', async () => {
    const out = path.join(base, 'edited');
    const backup = await backupEvidence(live.store.db, { out, dialect });
    const bundle = path.join(backup.path, 'evidence.jsonl');
    const lines = (await readFile(bundle, 'utf8')).split('\n');
    const index = lines.findIndex((line) => line.includes(`"runId":"${runs[1]?.runId}"`));
    const edited = JSON.parse(lines[index] as string) as { seq: number; record: string };
    lines[index] = JSON.stringify({
      ...edited,
      record: edited.record.replace('"verdict":"passed"', '"verdict":"failed"'),
    });
    expect(lines[index]).not.toBe(JSON.stringify(edited));
    await writeFile(bundle, lines.join('\n'));

    const record = await drill(out);
    expect(record.verdict).toBe('failed');
    const checks = Object.fromEntries(record.checks.map((check) => [check.name, check]));
    expect(checks.evidenceManifest).toMatchObject({
      verdict: 'failed',
      findings: [{ item: 'evidence.jsonl', problem: 'changed' }],
    });
    expect(checks.evidenceChain).toMatchObject({
      verdict: 'failed',
      findings: [{ item: `seq ${edited.seq} (run ${runs[1]?.runId})`, problem: 'record-altered' }],
    });
    expect(record.cause).toMatch(/^check\.failed: evidenceManifest: evidence.jsonl: changed/);
  });

  it('fails naming the record when the backup is of another store (its chain disagrees with the live one)', async () => {
    const stranger = await addRun(other, { drill: 'elsewhere' });
    const out = path.join(base, 'other-store');
    await backupEvidence(other.store.db, { out, dialect });
    const record = await drill(out);
    expect(record.verdict).toBe('failed');
    const live = record.checks.find((check) => check.name === 'evidenceLive');
    expect(live?.verdict).toBe('failed');
    expect(live?.findings?.[0]).toMatchObject({ problem: 'differs-from-live' });
    expect(live?.findings?.[0]?.item).toMatch(new RegExp(`^seq \\d+ \\(run ${stranger.runId}\\)$`));
    expect(record.cause).toMatch(
      /^check\.failed: evidenceLive: the backup disagrees with the live chain: seq \d+ \(run .*\) differs from the live record/,
    );
  });

  it("fails naming the field when manifest.json's account of the chain was edited", async () => {
    const out = path.join(base, 'manifest-edited');
    const backup = await backupEvidence(live.store.db, { out, dialect });
    const file = path.join(backup.path, 'manifest.json');
    const manifest = JSON.parse(await readFile(file, 'utf8')) as BackupManifest;
    const head = manifest.chain.head as { seq: number; recordHash: string };
    await writeFile(
      file,
      JSON.stringify({
        ...manifest,
        chain: {
          ...manifest.chain,
          records: manifest.chain.records - 1,
          head: { ...head, seq: head.seq - 1 },
        },
      }),
    );
    const record = await drill(out);
    expect(record.verdict).toBe('failed');
    const chain = record.checks.find((check) => check.name === 'evidenceChain');
    expect(chain?.findings).toMatchObject([
      { item: 'manifest.json chain.records', problem: 'manifest-differs' },
      { item: 'manifest.json chain.head.seq', problem: 'manifest-differs' },
    ]);
    expect(record.cause).toBe(
      `check.failed: evidenceChain: manifest.json says chain.records ${manifest.chain.records - 1}, the bundle's chain has ${manifest.chain.records}; manifest.json says chain.head.seq ${head.seq - 1}, the bundle's chain has ${head.seq}`,
    );
  });

  it('fails when the bundle lost its item lines, even with the manifest rewritten to match', async () => {
    const out = path.join(base, 'no-items');
    const backup = await backupEvidence(live.store.db, { out, dialect });
    const bundle = path.join(backup.path, 'evidence.jsonl');
    const kept = (await readFile(bundle, 'utf8'))
      .split('\n')
      .filter((line) => !line.startsWith('{"type":"item"'))
      .map((line) => line.replace('"items":true', '"items":false'))
      .join('\n');
    await writeFile(bundle, kept);
    const file = path.join(backup.path, 'manifest.json');
    const manifest = JSON.parse(await readFile(file, 'utf8')) as BackupManifest;
    const digest = createHash('sha256').update(kept).digest('hex');
    await writeFile(
      file,
      JSON.stringify({
        ...manifest,
        files: [{ name: 'evidence.jsonl', bytes: Buffer.byteLength(kept), sha256: digest }],
        chain: { ...manifest.chain, items: 0 },
      }),
    );
    const record = await drill(out);
    expect(record.verdict).toBe('failed');
    expect(record.checks.find((check) => check.name === 'evidenceManifest')?.verdict).toBe(
      'passed',
    );
    expect(record.checks.find((check) => check.name === 'evidenceChain')?.findings).toMatchObject([
      { item: 'evidence.jsonl', problem: 'items-missing' },
    ]);
    expect(record.cause).toMatch(
      /^check\.failed: evidenceChain: evidence\.jsonl has no item lines/,
    );
  });

  it('fails when the manifest is missing, and ignores a half-written (hidden) backup folder', async () => {
    const out = path.join(base, 'no-manifest');
    const backup = await backupEvidence(live.store.db, { out, dialect });
    await cp(backup.path, path.join(out, '.2099-01-01T000000Z.partial-abcd'), { recursive: true });
    await writeFile(path.join(backup.path, 'manifest.json'), '{"format":"something else"}\n');
    const record = await drill(out);
    expect(record.verdict).toBe('failed');
    expect(record.set?.path).toBe(backup.path);
    // Named as the backup's own file, not its copy in scratch.
    expect(record.cause).toMatch(
      new RegExp(
        `^check\\.failed: evidenceManifest: backup ${backup.path}: manifest\\.json: not a restore-drill evidence backup manifest: format`,
      ),
    );
  });

  it('is an error, not a failure, when no backup folder matches', async () => {
    const empty = path.join(base, 'empty-but-there');
    await mkdir(empty);
    const record = await drill(empty);
    expect(record.verdict).toBe('error');
    expect(record.cause).toMatch(/^set\.none: no backup set matched .*empty-but-there/);
  });

  it("the daemon's evidence-backup job writes the slot's backup on its schedule, stands down when the slot's backup is there, and the drill passes on it", async () => {
    const yaml = stringify({
      evidence: { backup: { out: 'scheduled', schedule: '0 3 * * *' } },
      scratch: { root: path.join(base, 'scratch'), keep: 'never' },
      drills: [
        {
          name: 'evidence',
          source: { kind: 'evidence-backup', path: 'scheduled/*' },
        },
      ],
    });
    const loaded = parseConfig(yaml, path.join(base, 'restore-drill.yaml'), {}, base);
    expect(evidenceBackupJob.schedule(loaded.config)).toBe('0 3 * * *');
    const context = {
      loaded,
      db: live.store.db,
      log: silentLogger(),
      leases: undefined as unknown as RunLeases,
    };
    const scheduledFor = new Date('2026-12-07T03:00:00.000Z');
    const outcome = await evidenceBackupJob.run({ scheduledFor }, context);
    expect(outcome?.path).toBe(path.join(base, 'scheduled', '2026-12-07T030000Z'));
    // Another replica filling the same slot finds it made and writes nothing.
    expect(await evidenceBackupJob.run({ scheduledFor }, context)).toBeNull();
    const record = await drill(path.join(base, 'scheduled'));
    expect(record.verdict).toBe('passed');
    expect(record.set?.path).toBe(outcome?.path);

    const without = parseConfig(
      stringify({ drills: [{ name: 'x', source: { kind: 'directory', path: '/b/*' } }] }),
      path.join(base, 'restore-drill.yaml'),
      {},
      base,
    );
    expect(evidenceBackupJob.schedule(without.config)).toBeNull();
    expect(() =>
      parseConfig(
        stringify({
          evidence: { backup: { out: 'x', schedule: '0 3 * * *', pgDump: true } },
          drills: [{ name: 'x', source: { kind: 'directory', path: '/b/*' } }],
        }),
        path.join(base, 'restore-drill.yaml'),
        {},
        base,
      ),
    ).toThrow(/evidence\.backup\.pgDump.*pg_dump needs a PostgreSQL evidence store/);
  });

  it('never overwrites a backup of the same second', async () => {
    const out = path.join(base, 'same-second');
    const now = new Date('2026-12-06T17:15:00.250Z');
    const first = await backupEvidence(live.store.db, { out, dialect, now });
    expect(path.basename(first.path)).toBe('2026-12-06T171500Z');
    await expect(backupEvidence(live.store.db, { out, dialect, now })).rejects.toThrow(
      `backup ${first.path} already exists; a backup is never overwritten`,
    );
  });
});
