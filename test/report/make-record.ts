import { randomUUID } from 'node:crypto';
import type { CheckResult } from '../../src/model/check-result.js';
import type { RunRecord } from '../../src/evidence/run-record.js';

export interface RecordSpec {
  drill: string;
  verdict?: RunRecord['verdict'];
  /** ISO start time. */
  at: string;
  restoreMs?: number;
  verifyMs?: number;
  cause?: string | null;
  /** Names of checks that failed (each gets a detail line). */
  failed?: string[];
  /** Age of the set at the start, in ms; null for no set. */
  setAgeMs?: number | null;
  setPath?: string;
}

/** A complete, schema-valid RunRecord for tests. */
export function makeRecord(spec: RecordSpec): RunRecord {
  const verdict = spec.verdict ?? 'passed';
  const restoreMs = spec.restoreMs ?? 1000;
  const verifyMs = spec.verifyMs ?? 500;
  const started = Date.parse(spec.at);
  const finished = new Date(started + restoreMs + verifyMs + 100).toISOString();
  const failed = spec.failed ?? (verdict === 'failed' ? ['manifest'] : []);
  const checks: CheckResult[] = [
    {
      name: 'restore',
      verdict: verdict === 'error' ? 'failed' : 'passed',
      expected: null,
      actual: null,
      detail: 'restored',
    },
    ...failed.map((name) => ({
      name,
      verdict: 'failed' as const,
      expected: 'ok',
      actual: 'bad',
      detail: `${name} failed: 1 file changed (data/a.txt)`,
    })),
  ];
  const setAge = spec.setAgeMs === undefined ? 3_600_000 : spec.setAgeMs;
  return {
    runId: randomUUID(),
    drill: spec.drill,
    verdict,
    cause:
      spec.cause !== undefined
        ? spec.cause
        : verdict === 'passed'
          ? null
          : `${failed[0] ?? 'restore'}: 1 file changed (data/a.txt)`,
    trigger: 'manual',
    scheduledFor: null,
    replayOf: null,
    startedAt: new Date(started).toISOString(),
    finishedAt: finished,
    sourceKind: 'tar',
    set:
      setAge === null
        ? null
        : {
            id: spec.setPath ?? '/backups/set.tar.gz',
            path: spec.setPath ?? '/backups/set.tar.gz',
            size: 1234,
            mtime: new Date(started - setAge).toISOString(),
            hash: null,
          },
    sample: null,
    restored: { files: 3, bytes: 4096 },
    itemsDigest: null,
    checks,
    timings: {
      selectMs: 10,
      restoreMs,
      verifyMs,
      cleanupMs: 5,
      totalMs: restoreMs + verifyMs + 15,
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
