import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { CheckResult } from '../../src/model/check-result.js';
import type { Database } from '../../src/evidence/database.js';
import type { EvidenceStore } from '../../src/evidence/open-store.js';
import type { RunRecord, RunVerdict } from '../../src/evidence/run-record.js';
import { recordRunResult, recordRunStart } from '../../src/evidence/runs.js';
import type { Engine, StorePlace } from './evidence-engines.js';

/** A failed manifest check naming one changed file, expected against found. */
export function changedFileCheck(file = 'etc/passwd'): CheckResult {
  return {
    name: 'manifest',
    verdict: 'failed',
    expected: { files: 12 },
    actual: { files: 12, changed: 1 },
    detail: `1 of 12 files differ from SHA256SUMS`,
    findings: [
      { item: file, problem: 'changed', expected: 'a'.repeat(64), actual: 'b'.repeat(64) },
    ],
    findingsTotal: 1,
  };
}

/** A complete run record, as the drill runner writes it. */
export function makeRun(options: {
  drill: string;
  verdict: RunVerdict;
  startedAt: Date;
  checks?: CheckResult[];
  cause?: string | null;
  bytes?: number;
  files?: number;
  totalMs?: number;
}): RunRecord {
  const totalMs = options.totalMs ?? 4_000;
  const checks =
    options.checks ??
    (options.verdict === 'passed'
      ? [
          {
            name: 'manifest',
            verdict: 'passed' as const,
            expected: { files: 12 },
            actual: { files: 12 },
            detail: 'all 12 files match',
          },
        ]
      : options.verdict === 'failed'
        ? [changedFileCheck()]
        : []);
  return {
    runId: randomUUID(),
    drill: options.drill,
    verdict: options.verdict,
    cause:
      options.cause ??
      (options.verdict === 'passed'
        ? null
        : options.verdict === 'failed'
          ? 'manifest: 1 of 12 files differ'
          : `run ${options.verdict}`),
    trigger: 'manual',
    scheduledFor: null,
    replayOf: null,
    startedAt: options.startedAt.toISOString(),
    finishedAt: new Date(options.startedAt.getTime() + totalMs).toISOString(),
    sourceKind: 'tar',
    set: {
      id: 'fileserver-2026-11-26.tar.gz',
      path: '/backups/fileserver/2026-11-26.tar.gz',
      size: 123_456,
      mtime: '2026-11-26T02:00:00.000Z',
      hash: null,
    },
    sample: null,
    restored: { files: options.files ?? 12, bytes: options.bytes ?? 123_000 },
    itemsDigest: null,
    checks,
    timings: {
      selectMs: 10,
      restoreMs: totalMs * 0.75,
      verifyMs: totalMs * 0.2,
      cleanupMs: 5,
      totalMs,
    },
    commands: [],
    targets: { rtoMs: null, rpoMs: null },
    host: 'test-host',
    version: '0.1.0',
    configHash: 'c'.repeat(64),
    scratchDir: null,
    scratchKept: false,
  };
}

/** Appends a run to the evidence store the way the runner does: a start, then its result. */
export async function recordRun(db: Kysely<Database>, record: RunRecord): Promise<RunRecord> {
  await recordRunStart(db, {
    runId: record.runId,
    drill: record.drill,
    trigger: record.trigger,
    scheduledFor: null,
    replayOf: null,
    startedAt: new Date(record.startedAt),
    host: record.host,
    pid: process.pid,
    version: record.version,
    configHash: record.configHash,
    scratchDir: null,
  });
  await recordRunResult(db, record, []);
  return record;
}

/**
 * An evidence store on one engine (fresh PGlite copy or a new PostgreSQL
 * database); `reopen` closes and opens it again, as a restarted process does.
 */
export async function openStore(engine: Engine): Promise<{
  store: EvidenceStore;
  place: StorePlace;
  reopen: () => Promise<EvidenceStore>;
  cleanup: () => Promise<void>;
}> {
  const place = await engine.prepare();
  const handle = {
    store: await place.open(),
    place,
    reopen: async () => {
      await handle.store.close();
      handle.store = await place.open();
      return handle.store;
    },
    cleanup: async () => {
      await handle.store.close();
      await place.cleanup();
    },
  };
  return handle;
}

/** A fake clock the code under test reads; tests move it. */
export class TestClock {
  constructor(private current: Date) {}
  now = (): Date => new Date(this.current);
  set(date: Date): void {
    this.current = date;
  }
  advance(ms: number): Date {
    this.current = new Date(this.current.getTime() + ms);
    return this.now();
  }
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
