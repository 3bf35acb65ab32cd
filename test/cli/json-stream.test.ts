import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { writeJsonObject } from '../../src/cli/json-stream.js';

async function* items<T>(values: readonly T[]): AsyncGenerator<T> {
  for (const value of values) {
    await Promise.resolve();
    yield value;
  }
}

/** What `writeJsonObject` writes into a slow reader (a small buffer read a little at a time). */
async function written(members: Parameters<typeof writeJsonObject>[1]): Promise<string> {
  const out = new PassThrough({ highWaterMark: 16 });
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const chunk of out) chunks.push(chunk as Buffer);
  })();
  await writeJsonObject(out, members);
  out.end();
  await reading;
  return Buffer.concat(chunks).toString('utf8');
}

describe('writeJsonObject', () => {
  test('writes what JSON.stringify(object, null, 2) would, streamed arrays included', async () => {
    const runs = Array.from({ length: 3_000 }, (_, i) => ({
      runId: `r${i}`,
      nested: { list: [i, 'x'], empty: [], none: null, text: 'a\nb "q"' },
    }));
    const spool = { waiting: 2, dir: '/var/spool' };
    const text = await written([
      ['runs', items(runs)],
      ['unfinished', [{ runId: 'u', at: 1 }]],
      ['spool', spool],
    ]);
    expect(text).toBe(
      `${JSON.stringify({ runs, unfinished: [{ runId: 'u', at: 1 }], spool }, null, 2)}\n`,
    );
  });

  test('an empty stream is an empty array; a lone member still closes the object', async () => {
    expect(await written([['runs', items([])]])).toBe(`${JSON.stringify({ runs: [] }, null, 2)}\n`);
    expect(await written([['runs', items([{ a: 1 }])]])).toBe(
      `${JSON.stringify({ runs: [{ a: 1 }] }, null, 2)}\n`,
    );
    expect(await written([])).toBe('{}\n');
  });
});
