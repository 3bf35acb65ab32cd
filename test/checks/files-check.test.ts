import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { FilesCheck, filesCheckConfigSchema } from '../../src/checks/files-check.js';
import { contextFor, copyInto, makeBench, type Bench } from './fixture.js';

let bench: Bench;
beforeEach(async () => {
  bench = await makeBench({
    'a.txt': 'a',
    'b.txt': 'b',
    'c/d.txt': 'd',
    SHA256SUMS: 'not read by this check',
  });
  await copyInto(bench.setDir, bench.scratch);
});
afterEach(async () => {
  await bench.cleanup();
});

async function run(config: unknown, withManifest = true, sampled = false) {
  const check = new FilesCheck(filesCheckConfigSchema.parse(config));
  return (
    await check.run(
      await contextFor(bench, {
        sampled,
        sample: sampled ? new Set(['a.txt']) : null,
        manifestsInSet: new Set(withManifest ? ['SHA256SUMS'] : []),
      }),
    )
  )[0]!;
}

describe('files check', () => {
  test('passes with at least min files, not counting the manifest', async () => {
    expect(await run({ min: 3 })).toEqual({
      name: 'files',
      verdict: 'passed',
      expected: { min: 3 },
      actual: { files: 3 },
      detail: '3 files restored, expected at least 3',
    });
  });

  test('counts the manifest file when no manifest is configured', async () => {
    expect((await run({ exact: 4 }, false)).verdict).toBe('passed');
  });

  test('fails with fewer than min files', async () => {
    const result = await run({ min: 4 });
    expect(result.verdict).toBe('failed');
    expect(result.findings).toEqual([
      { item: 'restore', problem: 'too-few-files', expected: { min: 4 }, actual: { files: 3 } },
    ]);
    expect(result.detail).toBe('3 files restored, expected at least 4');
  });

  test('fails with more or fewer than exact files', async () => {
    expect((await run({ exact: 2 })).findings).toEqual([
      { item: 'restore', problem: 'too-many-files', expected: { exact: 2 }, actual: { files: 3 } },
    ]);
    expect((await run({ exact: 5 })).findings).toEqual([
      { item: 'restore', problem: 'too-few-files', expected: { exact: 5 }, actual: { files: 3 } },
    ]);
  });

  test('checks min and exact together', async () => {
    const result = await run({ min: 1, exact: 3 });
    expect(result).toMatchObject({
      verdict: 'passed',
      expected: { min: 1, exact: 3 },
      detail: '3 files restored, expected exactly 3 and at least 1',
    });
  });

  test('says the count is the sample when sampling', async () => {
    const result = await run({ min: 10 }, true, true);
    expect(result).toMatchObject({
      verdict: 'failed',
      expected: { min: 10, sampled: true },
      detail: '3 files restored (sample), expected at least 10',
    });
    expect(result.findings![0]!.item).toBe('restored sample');
  });
});
