import { createHash, randomBytes } from 'node:crypto';
import {
  appendFile,
  chmod,
  lstat,
  mkdir,
  readFile,
  rename,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CHUNK_BYTES,
  COPY_CHUNK_BYTES,
  SourceReadError,
} from '../../src/scratch/hashing-writer.js';
import { LargeFileCopier } from '../../src/scratch/large-file-copy.js';
import { isNoSpace } from '../../src/scratch/space.js';
import { asUnprivileged, giveToUnprivileged } from '../helpers/as-user.js';
import { run } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('LargeFileCopier', () => {
  const copier = new LargeFileCopier();
  afterAll(() => copier.close());

  /** A file of `bytes` random bytes in a fresh folder; returns its path and content. */
  async function sourceFile(bytes: number, mode = 0o640): Promise<{ file: string; body: Buffer }> {
    const dir = await tempDir('restore-drill-lfc-');
    const file = path.join(dir, 'source.bin');
    const body = randomBytes(bytes);
    await writeFile(file, body, { mode });
    await chmod(file, mode);
    return { file, body };
  }

  it('copies a file of more chunks than its ring holds, with the hash sha256sum gives and the source permissions', async () => {
    const { file, body } = await sourceFile(19 * CHUNK_BYTES + 1000, 0o640);
    const target = path.join(path.dirname(file), 'target.bin');
    const digest = await copier.copy(file, target);
    expect(digest).toEqual({
      size: body.length,
      sha256: (await run('sha256sum', [file])).slice(0, 64),
    });
    // Buffer.equals: a deep toEqual walks 20 MB byte by byte.
    expect((await readFile(target)).equals(body)).toBe(true);
    expect((await stat(target)).mode & 0o777).toBe(0o640);
  });

  it('copies an empty file, and a file of exactly one chunk, reusing its threads', async () => {
    for (const bytes of [0, COPY_CHUNK_BYTES]) {
      const { file, body } = await sourceFile(bytes);
      const target = path.join(path.dirname(file), 'target.bin');
      expect(await copier.copy(file, target)).toEqual({ size: bytes, sha256: sha256(body) });
      expect((await readFile(target)).equals(body)).toBe(true);
    }
  });

  it('copies several files at once, each with its own digest', async () => {
    const sources = await Promise.all(
      [3, 5, 9].map((chunks) => sourceFile(chunks * CHUNK_BYTES + 7)),
    );
    const digests = await Promise.all(sources.map(({ file }) => copier.copy(file, `${file}.copy`)));
    expect(digests).toEqual(
      sources.map(({ body }) => ({ size: body.length, sha256: sha256(body) })),
    );
  });

  it('copies to and from names that are not UTF-8', async () => {
    const { file, body } = await sourceFile(2 * CHUNK_BYTES + 3);
    const dir = Buffer.from(path.dirname(file));
    const odd = Buffer.concat([dir, Buffer.from('/caf\xe9-', 'latin1')]);
    await rename(file, odd);
    const target = Buffer.concat([dir, Buffer.from('/\xff.out', 'latin1')]);
    expect(await copier.copy(odd, target)).toEqual({ size: body.length, sha256: sha256(body) });
    expect((await readFile(target)).equals(body)).toBe(true);
  });

  it('records the bytes it copied when the source shrinks during the copy', async () => {
    const { file, body } = await sourceFile(40 * CHUNK_BYTES);
    const target = `${file}.copy`;
    const copying = copier.copy(file, target);
    await truncate(file, 3 * CHUNK_BYTES + 5);
    const digest = await copying;
    // Whenever the truncation landed, the evidence is the restored file's, a prefix of the source.
    const written = await readFile(target);
    expect(digest).toEqual({ size: written.length, sha256: sha256(written) });
    expect(written.length).toBeGreaterThanOrEqual(3 * CHUNK_BYTES + 5);
    expect(written.equals(body.subarray(0, written.length))).toBe(true);
  });

  it('records the bytes it copied when the source grows during the copy', async () => {
    const { file, body } = await sourceFile(20 * CHUNK_BYTES);
    const extra = randomBytes(6 * CHUNK_BYTES);
    const target = `${file}.copy`;
    const copying = copier.copy(file, target);
    await appendFile(file, extra);
    const digest = await copying;
    const written = await readFile(target);
    expect(digest).toEqual({ size: written.length, sha256: sha256(written) });
    expect(written.length).toBeGreaterThanOrEqual(body.length);
    expect(written.equals(Buffer.concat([body, extra]).subarray(0, written.length))).toBe(true);
  });

  it('reports a source that is gone, a symlink or a folder as a SourceReadError, creating no target', async () => {
    const dir = await tempDir('restore-drill-lfc-');
    await writeFile(path.join(dir, 'real'), 'x');
    await symlink('real', path.join(dir, 'link'));
    await mkdir(path.join(dir, 'folder'));
    const copy = (name: string): Promise<unknown> =>
      copier.copy(path.join(dir, name), path.join(dir, `${name}.out`));
    await expect(copy('gone')).rejects.toMatchObject({
      name: 'SourceReadError',
      code: 'ENOENT',
      message: 'no such file or directory',
    });
    await expect(copy('link')).rejects.toMatchObject({ name: 'SourceReadError', code: 'ELOOP' });
    await expect(copy('folder')).rejects.toMatchObject({
      name: 'SourceReadError',
      message: 'no longer a regular file',
    });
    for (const name of ['gone', 'link', 'folder'])
      await expect(lstat(path.join(dir, `${name}.out`))).rejects.toThrow(/ENOENT/);
  });

  it('reports a source it may not read as a SourceReadError', async () => {
    const dir = await tempDir('restore-drill-lfc-');
    await chmod(dir, 0o755);
    await writeFile(path.join(dir, 'locked'), randomBytes(CHUNK_BYTES));
    await chmod(path.join(dir, 'locked'), 0o000);
    const out = await tempDir('restore-drill-lfc-out-');
    await giveToUnprivileged(out);
    const copying = asUnprivileged(() =>
      copier.copy(path.join(dir, 'locked'), path.join(out, 'x')),
    );
    await expect(copying).rejects.toBeInstanceOf(SourceReadError);
    await expect(copying).rejects.toThrow('permission denied');
  });

  it('reports a full disk with ENOSPC, and a target it may not create with its code', async () => {
    const { file } = await sourceFile(3 * CHUNK_BYTES);
    // /dev/full fails every write with ENOSPC, as a full scratch does.
    const full = copier.copy(file, '/dev/full');
    await expect(full).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(isNoSpace(await full.catch((error: unknown) => error))).toBe(true);
    await expect(full).rejects.not.toBeInstanceOf(SourceReadError);
    const victim = path.join(path.dirname(file), 'victim');
    await writeFile(victim, 'keep');
    await symlink(victim, path.join(path.dirname(file), 'link'));
    await expect(copier.copy(file, path.join(path.dirname(file), 'link'))).rejects.toMatchObject({
      code: 'ELOOP',
    });
    expect(await readFile(victim, 'utf8')).toBe('keep');
  });

  it('stops with the reason when the signal aborts, before or during a copy, and copies again after', async () => {
    const { file, body } = await sourceFile(30 * CHUNK_BYTES);
    const before = new AbortController();
    before.abort(new Error('stopped before'));
    await expect(copier.copy(file, `${file}.a`, { signal: before.signal })).rejects.toThrow(
      'stopped before',
    );
    const during = new AbortController();
    const copying = copier.copy(file, `${file}.b`, { signal: during.signal });
    during.abort(new Error('stopped during'));
    await expect(copying).rejects.toThrow('stopped during');
    expect(await copier.copy(file, `${file}.c`)).toEqual({
      size: body.length,
      sha256: sha256(body),
    });
  });

  it('fails the copy when its threads die, and starts new ones for the next copy', async () => {
    const dying = new LargeFileCopier();
    const { file, body } = await sourceFile(30 * CHUNK_BYTES);
    const copying = dying.copy(file, `${file}.a`);
    // Awaited after the close: a rejection left unheeded meanwhile would count as unhandled.
    const failed = expect(copying).rejects.toThrow(
      /large-file copy: the (copier|hasher) thread exited/,
    );
    await dying.close();
    await failed;
    expect(await dying.copy(file, `${file}.b`)).toEqual({
      size: body.length,
      sha256: sha256(body),
    });
    await dying.close();
  });
});
