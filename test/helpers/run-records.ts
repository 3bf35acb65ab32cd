import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { EvidenceDb } from '../../src/evidence/database.js';
import { itemsDigest } from '../../src/evidence/items-digest.js';
import type { RunItem, RunRecord } from '../../src/evidence/run-record.js';
import type { RunStart } from '../../src/evidence/runs.js';

/** A complete, valid run record, every field filled, with overrides. */
export function makeRecord(overrides: Partial<RunRecord> = {}): RunRecord {
  const startedAt = overrides.startedAt ?? '2025-03-01T03:00:00.000Z';
  const finishedAt = new Date(Date.parse(startedAt) + 12_345).toISOString();
  return {
    runId: randomUUID(),
    drill: 'nightly-files',
    verdict: 'passed',
    cause: null,
    trigger: 'manual',
    scheduledFor: null,
    replayOf: null,
    startedAt,
    finishedAt,
    sourceKind: 'tar',
    set: {
      id: 'backup-2025-03-01.tar',
      path: '/backups/backup-2025-03-01.tar',
      size: 1_048_576,
      mtime: '2025-03-01T01:00:00.000Z',
      hash: null,
    },
    sample: {
      spec: { count: 3 },
      seed: 'seed-1',
      totalItems: 10,
      selectedItems: 3,
      selectedBytes: 300,
      coverage: 0.3,
      items: ['a.txt', 'b/c.txt', 'd.bin'],
    },
    restored: { files: 3, bytes: 300 },
    itemsDigest: 'ab'.repeat(32),
    checks: [
      {
        name: 'manifest',
        verdict: 'passed',
        expected: { files: 3 },
        actual: { files: 3 },
        detail: '3 of 3 files match the manifest',
      },
      {
        name: 'bytes',
        verdict: 'warning',
        expected: 300,
        actual: 299,
        detail: 'one byte short',
        findings: [{ item: 'd.bin', problem: 'truncated', expected: 100, actual: 99 }],
        findingsTotal: 1,
      },
    ],
    timings: { selectMs: 1.5, restoreMs: 8000, verifyMs: 4000, cleanupMs: 300, totalMs: 12_345 },
    commands: [
      {
        command: 'tar -xf x.tar',
        exitCode: 0,
        signal: null,
        durationMs: 7000,
        timedOut: false,
        canceled: false,
        stdoutTail: '',
        stderrTail: 'ünïcödé ✓',
      },
    ],
    targets: { rtoMs: 3_600_000, rpoMs: null },
    host: 'drill-host-1',
    version: '0.1.0',
    configHash: 'cd'.repeat(32),
    scratchDir: '/scratch/run-1',
    scratchKept: false,
    ...overrides,
  };
}

/** The start row matching a record. */
export function startOf(record: RunRecord, overrides: Partial<RunStart> = {}): RunStart {
  return {
    runId: record.runId,
    drill: record.drill,
    trigger: record.trigger,
    scheduledFor: record.scheduledFor === null ? null : new Date(record.scheduledFor),
    replayOf: record.replayOf,
    startedAt: new Date(record.startedAt),
    host: record.host,
    pid: 4242,
    version: record.version,
    configHash: record.configHash,
    scratchDir: record.scratchDir,
    ...overrides,
  };
}

/** `count` items with distinct paths and plausible sizes and hashes. */
export function makeItems(count: number): RunItem[] {
  return Array.from({ length: count }, (_, i) => ({
    path: `dir-${i % 7}/file-${String(i).padStart(6, '0')}.dat`,
    size: i * 1000 + 1,
    sha256: i % 10 === 0 ? null : i.toString(16).padStart(64, '0'),
  }));
}

/** The record as a run that restored exactly `items` writes it: digest, counts and (up to 1000) sampled paths. */
export function withItems(record: RunRecord, items: readonly RunItem[]): RunRecord {
  return {
    ...record,
    restored: { files: items.length, bytes: items.reduce((sum, item) => sum + item.size, 0) },
    itemsDigest: itemsDigest(items),
    sample: record.sample && {
      ...record.sample,
      selectedItems: items.length,
      items: items.slice(0, 1000).map((item) => item.path),
    },
  };
}

/**
 * Appends runs `from`..`to` of drill `drill` straight in SQL, started a minute apart and passed:
 * thousands of rows in one statement, for tests about the size of the run tables (not their content).
 */
export async function appendBareRuns(
  db: EvidenceDb,
  drill: string,
  from: number,
  to: number,
): Promise<void> {
  await sql`insert into run_starts (run_id, drill, trigger, started_at, host, pid, version, config_hash)
    select ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, ${drill}, 'manual',
      now() - n * interval '1 minute', 'h', 1, 'v', 'c'
    from generate_series(${from}::int, ${to}::int) as n`.execute(db);
  await sql`insert into run_results (run_id, drill, verdict, started_at, finished_at, files, bytes,
      checks_failed, restore_ms, verify_ms, total_ms, record, prev_hash, record_hash)
    select run_id, drill, 'passed', started_at, started_at, 0, 0, 0, 0, 0, 0, '{}', repeat(md5(run_id), 2), repeat(md5(run_id || 'r'), 2)
    from run_starts where drill = ${drill} and run_id not in (select run_id from run_results)
    order by started_at desc`.execute(db);
}
