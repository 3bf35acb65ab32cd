import { chmod, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CHUNK_BYTES,
  copyHashing,
  HashingFileWriter,
  RingPool,
  SourceReadError,
} from '../../src/scratch/hashing-writer.js';
import { asUnprivileged, giveToUnprivileged } from '../helpers/as-user.js';
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

describe('copyHashing', () => {
  it('copies a file of many chunks in one pass, with the hash sha256sum gives', async () => {
    const dir = await tempDir('restore-drill-hw-');
    const source = path.join(dir, 'source.bin');
    await run('dd', ['if=/dev/urandom', `of=${source}`, 'bs=1M', 'count=9', 'status=none']);
    await run('dd', [
      'if=/dev/urandom',
      `of=${source}`,
      'bs=1000',
      'count=1',
      'oflag=append',
      'conv=notrunc',
      'status=none',
    ]);
    const target = path.join(dir, 'target.bin');
    const digest = await new RingPool().with((ring) => copyHashing(source, target, { ring }));
    expect(digest).toEqual({ size: 9 * CHUNK_BYTES + 1000, sha256: await sha256sum(source) });
    expect(await sha256sum(target)).toBe(digest.sha256);
  });

  it('reports a source it may not read as a SourceReadError', async () => {
    const dir = await tempDir('restore-drill-hw-');
    await chmod(dir, 0o755);
    await writeFile(path.join(dir, 'locked'), 'secret');
    await chmod(path.join(dir, 'locked'), 0o000);
    const out = await tempDir('restore-drill-hw-out-');
    await giveToUnprivileged(out);
    const copying = asUnprivileged(() =>
      new RingPool().with((ring) =>
        copyHashing(path.join(dir, 'locked'), path.join(out, 'x'), { ring }),
      ),
    );
    await expect(copying).rejects.toBeInstanceOf(SourceReadError);
    await expect(
      asUnprivileged(() =>
        new RingPool().with((ring) =>
          copyHashing(path.join(dir, 'locked'), path.join(out, 'x'), { ring }),
        ),
      ),
    ).rejects.toThrow('permission denied');
  });

  it('reports a source that is a symlink or gone as a SourceReadError', async () => {
    const dir = await tempDir('restore-drill-hw-');
    await writeFile(path.join(dir, 'real'), 'x');
    await symlink('real', path.join(dir, 'link'));
    const ring = (): Promise<unknown> =>
      new RingPool().with((r) =>
        copyHashing(path.join(dir, 'link'), path.join(dir, 'out'), { ring: r }),
      );
    await expect(ring()).rejects.toMatchObject({ name: 'SourceReadError', code: 'ELOOP' });
    await expect(
      new RingPool().with((r) =>
        copyHashing(path.join(dir, 'gone'), path.join(dir, 'out'), { ring: r }),
      ),
    ).rejects.toMatchObject({
      name: 'SourceReadError',
      message: 'no such file or directory',
    });
  });

  it('stops at the next chunk when the signal aborts', async () => {
    const dir = await tempDir('restore-drill-hw-');
    const source = path.join(dir, 'source.bin');
    await run('dd', ['if=/dev/zero', `of=${source}`, 'bs=1M', 'count=4', 'status=none']);
    const controller = new AbortController();
    controller.abort(new Error('stop now'));
    await expect(
      new RingPool().with((ring) =>
        copyHashing(source, path.join(dir, 'out'), { ring, signal: controller.signal }),
      ),
    ).rejects.toThrow('stop now');
  });
});
