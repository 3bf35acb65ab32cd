import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { crc32c, crc32cHex } from '../../src/manifest/crc32c.js';
import { createDigester, HASH_CHUNK_BYTES, hashFile } from '../../src/manifest/hash-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'restore-drill-hash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tool(name: string, file: string): Promise<string> {
  const result = await runCommand(name, [file]);
  expect(result.exitCode).toBe(0);
  return result.stdoutTail.split(' ')[0]!;
}

describe('hashFile', () => {
  test('matches sha256sum and sha512sum on a file spanning several 1 MiB reads', async () => {
    const data = randomBytes(3 * HASH_CHUNK_BYTES + 12_345);
    const file = join(dir, 'big.bin');
    await writeFile(file, data);
    const digest = await hashFile(file, ['sha256', 'sha512', 'crc32c']);
    expect(digest.size).toBe(data.length);
    expect(digest.digests.sha256).toBe(await tool('sha256sum', file));
    expect(digest.digests.sha512).toBe(await tool('sha512sum', file));
    expect(digest.digests.crc32c).toBe(crc32cHex(crc32c(data)));
  });

  test('hashes an empty file', async () => {
    const file = join(dir, 'empty');
    await writeFile(file, '');
    const digest = await hashFile(file, ['sha256', 'sha224', 'sha384']);
    expect(digest).toEqual({
      size: 0,
      digests: {
        sha256: await tool('sha256sum', file),
        sha224: await tool('sha224sum', file),
        sha384: await tool('sha384sum', file),
      },
    });
  });

  test('rejects with the file system error for a missing file', async () => {
    await expect(hashFile(join(dir, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('stops when the signal is aborted', async () => {
    const file = join(dir, 'abort.bin');
    await writeFile(file, randomBytes(HASH_CHUNK_BYTES * 2));
    await expect(hashFile(file, ['sha256'], { signal: AbortSignal.abort() })).rejects.toMatchObject(
      { name: 'AbortError' },
    );
  });
});

describe('createDigester', () => {
  test('gives the same digest fed in pieces as in one go', () => {
    const data = randomBytes(10_000);
    for (const algorithm of ['sha256', 'crc32c'] as const) {
      const whole = createDigester(algorithm);
      whole.update(data);
      const pieces = createDigester(algorithm);
      for (let at = 0; at < data.length; at += 777) pieces.update(data.subarray(at, at + 777));
      expect(pieces.digest()).toBe(whole.digest());
    }
  });
});
