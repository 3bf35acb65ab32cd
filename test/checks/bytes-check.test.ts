import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BytesCheck, bytesCheckConfigSchema } from '../../src/checks/bytes-check.js';
import { formatBytes } from '../../src/model/primitives.js';
import { contextFor, copyInto, makeBench, type Bench } from './fixture.js';

let bench: Bench;
beforeEach(async () => {
  bench = await makeBench({
    'a.bin': Buffer.alloc(1500),
    'b.bin': Buffer.alloc(500),
    'MANIFEST.sha256': Buffer.alloc(100),
  });
  await copyInto(bench.setDir, bench.scratch);
});
afterEach(async () => {
  await bench.cleanup();
});

async function run(min: string | number) {
  const check = new BytesCheck(bytesCheckConfigSchema.parse({ min }));
  return (
    await check.run(await contextFor(bench, { manifestsInSet: new Set(['MANIFEST.sha256']) }))
  )[0]!;
}

describe('bytes check', () => {
  test('passes when the restored files (manifest excluded) reach min', async () => {
    expect(await run('2KB')).toEqual({
      name: 'bytes',
      verdict: 'passed',
      expected: { minBytes: 2000, min: '2 KB' },
      actual: { bytes: 2000, size: '2 KB' },
      detail: '2 KB (2000 bytes) restored, expected at least 2 KB',
    });
  });

  test('fails below min, naming the shortfall', async () => {
    const result = await run(2001);
    expect(result.verdict).toBe('failed');
    expect(result.findings).toEqual([
      {
        item: 'restore',
        problem: 'too-few-bytes',
        expected: { minBytes: 2001 },
        actual: { bytes: 2000 },
      },
    ]);
  });
});

describe('formatBytes', () => {
  test.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1 KB'],
    [1536, '1.54 KB'],
    [999_600, '1 MB'],
    [950_000_000, '950 MB'],
    [1.5e9, '1.5 GB'],
    [2.5e15, '2.5 PB'],
  ])('formats %d as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
