import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { threadHash } from '../../src/scratch/hash-thread.js';
import { CHUNK_BYTES, copyHashing, HashingFileWriter } from '../../src/scratch/hashing-writer.js';
import { tempDir } from '../helpers/temp.js';

function shared(bytes: Uint8Array): Buffer {
  const buffer = Buffer.from(new SharedArrayBuffer(bytes.byteLength));
  buffer.set(bytes);
  return buffer;
}

describe('threadHash', () => {
  it('hashes interleaved streams each in its own order, as crypto does', async () => {
    const a = [randomBytes(1000), randomBytes(70_000), randomBytes(1)];
    const b = [randomBytes(5), randomBytes(300_000)];
    const first = threadHash();
    const second = threadHash();
    await Promise.all([
      first.update(shared(a[0]!)),
      second.update(shared(b[0]!)),
      first.update(shared(a[1]!).subarray(0, 70_000)),
      second.update(shared(b[1]!)),
      first.update(shared(a[2]!)),
    ]);
    expect(await first.digest()).toBe(createHash('sha256').update(Buffer.concat(a)).digest('hex'));
    expect(await second.digest()).toBe(createHash('sha256').update(Buffer.concat(b)).digest('hex'));
    expect(await threadHash().digest()).toBe(createHash('sha256').digest('hex'));
  });

  it('refuses a chunk outside shared memory (the thread could not read it)', async () => {
    await expect(threadHash().update(randomBytes(10))).rejects.toThrow(
      'the chunk must lie in a SharedArrayBuffer',
    );
  });
});

describe('copyHashing over a shared ring', () => {
  it('gives the same file and digest as a plain ring hashed on the calling thread', async () => {
    const dir = await tempDir('restore-drill-ht-');
    const source = path.join(dir, 'source.bin');
    const body = randomBytes(5 * CHUNK_BYTES + 12_345);
    await writeFile(source, body);
    const ring = (make: () => Buffer): Buffer[] =>
      Array.from({ length: HashingFileWriter.ringSize }, make);
    const threaded = await copyHashing(source, path.join(dir, 'threaded'), {
      ring: ring(() => Buffer.from(new SharedArrayBuffer(CHUNK_BYTES))),
    });
    const inline = await copyHashing(source, path.join(dir, 'inline'), {
      ring: ring(() => Buffer.alloc(CHUNK_BYTES)),
    });
    const expected = { size: body.length, sha256: createHash('sha256').update(body).digest('hex') };
    expect(threaded).toEqual(expected);
    expect(inline).toEqual(expected);
  });
});
