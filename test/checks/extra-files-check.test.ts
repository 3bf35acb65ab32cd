import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ExtraFilesCheck, type ExtraFilesPolicy } from '../../src/checks/extra-files-check.js';
import { ManifestLoader, manifestCheckConfigSchema } from '../../src/checks/manifest-check.js';
import { contextFor, copyInto, makeBench, sha256sumOutput, type Bench } from './fixture.js';

let bench: Bench;
beforeEach(async () => {
  bench = await makeBench({ 'a.txt': 'a\n', 'dir/b.txt': 'b\n' });
  await writeFile(
    join(bench.setDir, 'SHA256SUMS'),
    await sha256sumOutput(bench.setDir, ['a.txt', 'dir/b.txt']),
  );
  await copyInto(bench.setDir, bench.scratch);
});
afterEach(async () => {
  await bench.cleanup();
});

async function run(policy: ExtraFilesPolicy, path = 'SHA256SUMS') {
  const config = manifestCheckConfigSchema.parse({ path });
  const results = await new ExtraFilesCheck(policy, new ManifestLoader(config)).run(
    await contextFor(bench),
  );
  expect(results).toHaveLength(1);
  return results[0]!;
}

describe('extraFiles check', () => {
  test('passes when every restored file is listed (the manifest itself is not extra)', async () => {
    expect(await run('fail')).toEqual({
      name: 'extraFiles',
      verdict: 'passed',
      expected: { extra: 0, manifest: 'SHA256SUMS', policy: 'fail' },
      actual: { extra: 0 },
      detail: 'no restored file is missing from SHA256SUMS',
    });
  });

  test('fails naming each restored file the manifest does not list', async () => {
    await writeFile(join(bench.scratch, 'zz-extra.txt'), 'surprise');
    await writeFile(join(bench.scratch, 'dir', 'also extra'), 'x');
    const result = await run('fail');
    expect(result.verdict).toBe('failed');
    expect(result.actual).toEqual({ extra: 2 });
    expect(result.findings).toEqual([
      {
        item: 'dir/also extra',
        problem: 'extra',
        expected: 'listed in SHA256SUMS',
        actual: { size: 1 },
      },
      {
        item: 'zz-extra.txt',
        problem: 'extra',
        expected: 'listed in SHA256SUMS',
        actual: { size: 8 },
      },
    ]);
    expect(result.detail).toBe(
      "2 restored files not in SHA256SUMS: 'dir/also extra', 'zz-extra.txt'",
    );
  });

  test('warns instead of failing with warn', async () => {
    await writeFile(join(bench.scratch, 'zz-extra.txt'), 'surprise');
    const result = await run('warn');
    expect(result.verdict).toBe('warning');
    expect(result.findings).toHaveLength(1);
  });

  test('passes with ignore, saying it ignored them and how many there were', async () => {
    await writeFile(join(bench.scratch, 'zz-extra.txt'), 'surprise');
    expect(await run('ignore')).toEqual({
      name: 'extraFiles',
      verdict: 'passed',
      expected: { extra: 0, manifest: 'SHA256SUMS', policy: 'ignore' },
      actual: { extra: 1 },
      detail: 'extra files ignored (extraFiles: ignore); 1 restored file not in SHA256SUMS',
    });
  });

  test.each([
    ['fail', 'failed'],
    ['warn', 'warning'],
    ['ignore', 'passed'],
  ] as const)(
    'with %s, reports "not compared" when the manifest cannot be read',
    async (policy, verdict) => {
      const result = await run(policy, 'NO-SUCH-FILE');
      expect(result.verdict).toBe(verdict);
      expect(result.actual).toEqual({ compared: false });
      expect(result.detail).toContain(
        'not compared: manifest NO-SUCH-FILE cannot be used (see the manifest check)',
      );
    },
  );
});
