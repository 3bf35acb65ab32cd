import { describe, expect, test } from 'vitest';
import type { CheckContext } from '../../src/checks/check.js';
import { RtoCheck } from '../../src/checks/rto-check.js';
import { targetsSchema } from '../../src/config/schema.js';

function context(elapsedMs: number): CheckContext {
  return {
    set: { id: 's', path: '/backups/s', size: null, mtime: null, hash: null },
    scratchDir: '/nonexistent',
    outcome: { files: [], refused: [] },
    sampled: false,
    sample: null,
    manifestsInSet: new Set(),
    startedAt: new Date(),
    elapsedMs: () => elapsedMs,
  };
}

const rto = targetsSchema.parse({ rto: '15m' }).rto!;

describe('rto check', () => {
  test('passes when restore and verification finish within the RTO', async () => {
    expect(await new RtoCheck(rto).run(context(90_000.4))).toEqual([
      {
        name: 'rto',
        verdict: 'passed',
        expected: { maxDuration: '15m', maxDurationMs: 900_000 },
        actual: { duration: '1m30s', durationMs: 90_000 },
        detail: 'restore and verification took 1m30s, within the RTO of 15m',
      },
    ]);
  });

  test('fails when they take longer than the RTO', async () => {
    const [result] = await new RtoCheck(rto).run(context(960_000));
    expect(result).toMatchObject({
      verdict: 'failed',
      actual: { durationMs: 960_000 },
      detail: 'restore and verification took 16m, beyond the RTO of 15m',
    });
  });

  test('reads the elapsed time when it runs, not when it was built', async () => {
    let elapsed = 0;
    const check = new RtoCheck(1_000);
    const ctx = { ...context(0), elapsedMs: () => elapsed };
    elapsed = 2_000;
    expect((await check.run(ctx))[0]!.verdict).toBe('failed');
  });
});
