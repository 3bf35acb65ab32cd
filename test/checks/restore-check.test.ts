import { describe, expect, test } from 'vitest';
import type { CheckContext } from '../../src/checks/check.js';
import { RestoreCheck } from '../../src/checks/restore-check.js';
import type { RestoreOutcome } from '../../src/sources/restore-source.js';

function context(outcome: RestoreOutcome): CheckContext {
  return {
    set: { id: 's', path: '/backups/s', size: null, mtime: null, hash: null },
    scratchDir: '/nonexistent',
    outcome,
    sampled: false,
    sample: null,
    manifestsInSet: new Set(),
    startedAt: new Date(),
    elapsedMs: () => 0,
  };
}

const file = (path: string) => ({ path, size: 1, sha256: '0'.repeat(64) });

describe('restore check', () => {
  test('passes when the source refused nothing', async () => {
    expect(
      await new RestoreCheck().run(context({ files: [file('a'), file('b')], refused: [] })),
    ).toEqual([
      {
        name: 'restore',
        verdict: 'passed',
        expected: { refused: 0 },
        actual: { refused: 0, files: 2 },
        detail: 'restored 2 files, refused none',
      },
    ]);
  });

  test('passes with special files skipped, naming them in the detail and the evidence', async () => {
    const skipped = [
      { entry: 'run/app.sock', kind: 'socket' },
      { entry: 'dev/null', kind: 'character device' },
      { entry: 'dev/zero', kind: 'character device' },
      { entry: 'tmp/pipe', kind: 'FIFO' },
    ];
    expect(
      await new RestoreCheck().run(context({ files: [file('a')], refused: [], skipped })),
    ).toEqual([
      {
        name: 'restore',
        verdict: 'passed',
        expected: { refused: 0 },
        actual: { refused: 0, files: 1, skipped: 4, skippedEntries: skipped },
        detail:
          'restored 1 file, refused none; skipped 4 special files (no data): run/app.sock (socket), dev/null (character device), dev/zero (character device) and 1 more',
      },
    ]);
  });

  test('fails naming a refused entry and why', async () => {
    const [result] = await new RestoreCheck().run(
      context({
        files: [file('a')],
        refused: [{ entry: '../evil.txt', reason: 'escapes scratch' }],
      }),
    );
    expect(result).toEqual({
      name: 'restore',
      verdict: 'failed',
      expected: { refused: 0 },
      actual: { refused: 1, files: 1 },
      detail: 'refused 1 entry: ../evil.txt (escapes scratch)',
      findings: [{ item: '../evil.txt', problem: 'refused', actual: 'escapes scratch' }],
      findingsTotal: 1,
    });
  });

  test('lists the first refusals and counts the rest', async () => {
    const refused = Array.from({ length: 5 }, (_, i) => ({
      entry: `/abs/${i}`,
      reason: 'absolute path',
    }));
    const [result] = await new RestoreCheck().run(context({ files: [], refused }));
    expect(result!.detail).toBe(
      'refused 5 entries: /abs/0 (absolute path), /abs/1 (absolute path), /abs/2 (absolute path) and 2 more',
    );
    expect(result!.findingsTotal).toBe(5);
  });

  test('counts restored tables for database sources', async () => {
    const [result] = await new RestoreCheck().run(
      context({ files: [], refused: [], tables: [{ name: 't', rows: 3 }] }),
    );
    expect(result).toMatchObject({
      verdict: 'passed',
      actual: { refused: 0, files: 0, tables: 1 },
      detail: 'restored 0 files, 1 table, refused none',
    });
  });

  test('fails naming the damage first: entry, offset, and what was restored before it', async () => {
    const damage = { detail: 'unexpected end of data', entry: 'etc/big.bin', offset: 4096 };
    const [result] = await new RestoreCheck().run(
      context({
        files: [file('etc/a.conf')],
        refused: [{ entry: 'dev/null', reason: 'unsupported tar entry type (typeflag X)' }],
        damage,
      }),
    );
    expect(result).toEqual({
      name: 'restore',
      verdict: 'failed',
      expected: { refused: 0 },
      actual: { damaged: damage, refused: 1, files: 1 },
      detail:
        'backup damaged: unexpected end of data at entry etc/big.bin (byte 4096) in /backups/s; restored 1 file before it, refused 1 entry',
      findings: [
        {
          item: 'etc/big.bin',
          problem: 'damaged',
          expected: 'readable to its end',
          actual: 'unexpected end of data at byte 4096',
        },
        { item: 'dev/null', problem: 'refused', actual: 'unsupported tar entry type (typeflag X)' },
      ],
      findingsTotal: 2,
    });
  });

  test('names the set when the damage is not inside an entry', async () => {
    const [result] = await new RestoreCheck().run(
      context({
        files: [],
        refused: [],
        damage: { detail: 'invalid tar header', entry: null, offset: null },
      }),
    );
    expect(result?.detail).toBe(
      'backup damaged: invalid tar header in /backups/s; restored 0 files before it',
    );
    expect(result?.findings?.[0]).toMatchObject({
      item: '/backups/s',
      actual: 'invalid tar header',
    });
  });
});
