import { describe, expect, test } from 'vitest';
import type { CheckContext } from '../../src/checks/check.js';
import { RpoCheck } from '../../src/checks/rpo-check.js';
import { targetsSchema } from '../../src/config/schema.js';

function context(mtime: Date | null): CheckContext {
  return {
    set: { id: 's', path: '/backups/s', size: null, mtime, hash: null },
    scratchDir: '/nonexistent',
    outcome: { files: [], refused: [] },
    sampled: false,
    sample: null,
    manifestsInSet: new Set(),
    startedAt: new Date('2026-03-02T03:00:00Z'),
    elapsedMs: () => 0,
  };
}

const rpo = targetsSchema.parse({ rpo: '26h' }).rpo!;

describe('rpo check', () => {
  test('passes when the set is younger than the RPO', async () => {
    expect(await new RpoCheck(rpo).run(context(new Date('2026-03-01T03:00:00Z')))).toEqual([
      {
        name: 'rpo',
        verdict: 'passed',
        expected: { maxAge: '1d2h', maxAgeMs: 93_600_000 },
        actual: { age: '1d', ageMs: 86_400_000, setTime: '2026-03-01T03:00:00.000Z' },
        detail: 'set is 1d old (taken 2026-03-01T03:00:00.000Z), within the RPO of 1d2h',
      },
    ]);
  });

  test('fails when the set is older than the RPO', async () => {
    const [result] = await new RpoCheck(rpo).run(context(new Date('2026-02-28T03:00:00Z')));
    expect(result).toMatchObject({ verdict: 'failed', actual: { age: '2d', ageMs: 172_800_000 } });
    expect(result!.detail).toBe(
      'set is 2d old (taken 2026-02-28T03:00:00.000Z), beyond the RPO of 1d2h',
    );
  });

  test('passes at exactly the RPO', async () => {
    const [result] = await new RpoCheck(rpo).run(
      context(new Date(Date.parse('2026-03-02T03:00:00Z') - rpo)),
    );
    expect(result!.verdict).toBe('passed');
  });

  test("fails with 'set time unknown' when the source gives no time", async () => {
    const [result] = await new RpoCheck(rpo).run(context(null));
    expect(result).toEqual({
      name: 'rpo',
      verdict: 'failed',
      expected: { maxAge: '1d2h', maxAgeMs: 93_600_000 },
      actual: { setTime: null },
      detail: 'set time unknown: the source gives no time for this set',
    });
  });

  test('warns when the set time is after the run started', async () => {
    const [result] = await new RpoCheck(rpo).run(context(new Date('2026-03-02T04:00:00Z')));
    expect(result).toMatchObject({ verdict: 'warning', actual: { ageMs: -3_600_000 } });
    expect(result!.detail).toContain('is 1h after the run started');
  });
});
