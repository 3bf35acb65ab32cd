import { readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashingFileWriter } from '../../src/scratch/hashing-writer.js';
import { run } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

async function sha256sum(file: string): Promise<string> {
  return (await run('sha256sum', [file])).slice(0, 64);
}

describe('HashingFileWriter', () => {
  it('writes chunks at their offsets and hashes them as sha256sum does', async () => {
    const dir = await tempDir('restore-drill-hw-');
    const file = path.join(dir, 'out.bin');
    const writer = await HashingFileWriter.create(file, 0o640);
    const chunks = Array.from({ length: 7 }, (_, i) => Buffer.alloc(300_000 + i, i + 1));
    for (const chunk of chunks) await writer.push(chunk);
    await writer.push(Buffer.alloc(0));
    const digest = await writer.end();
    // Buffer.equals: a deep toEqual walks 2 MB byte by byte (a minute on a loaded machine).
    const written = await readFile(file);
    expect(written.length).toBe(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    expect(written.equals(Buffer.concat(chunks))).toBe(true);
    expect(digest).toEqual({
      size: chunks.reduce((sum, chunk) => sum + chunk.length, 0),
      sha256: await sha256sum(file),
    });
  });

  it('refuses to write through a symlink at the target', async () => {
    const dir = await tempDir('restore-drill-hw-');
    await writeFile(path.join(dir, 'victim'), 'keep');
    await symlink(path.join(dir, 'victim'), path.join(dir, 'link'));
    await expect(HashingFileWriter.create(path.join(dir, 'link'))).rejects.toThrow(/ELOOP/);
    expect(await readFile(path.join(dir, 'victim'), 'utf8')).toBe('keep');
  });
});
