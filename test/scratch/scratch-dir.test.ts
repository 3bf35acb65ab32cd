import { chmod, mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createScratchDir, removeScratchDir, ScratchError } from '../../src/scratch/scratch-dir.js';
import { asUnprivileged, giveToUnprivileged } from '../helpers/as-user.js';
import { run, writeTree } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

describe('createScratchDir', () => {
  it('makes <root>/<drill>-<timestamp>-<short run id>, private, creating the root', async () => {
    const root = path.join(await tempDir('restore-drill-scratch-root-'), 'not', 'yet');
    const dir = await createScratchDir(
      root,
      'nightly-files',
      '0f3c9a7e-1b2d-4c5e-8f90-123456789abc',
      { now: new Date('2026-03-01T03:04:05.678Z') },
    );
    expect(dir).toBe(path.join(root, 'nightly-files-20260301T030405Z-0f3c9a7e'));
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps the folder private whatever the umask', async () => {
    const root = await tempDir('restore-drill-scratch-root-');
    const previous = process.umask(0o000);
    try {
      const dir = await createScratchDir(root, 'd', 'run-1');
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    } finally {
      process.umask(previous);
    }
  });

  it('refuses to reuse a folder that exists', async () => {
    const root = await tempDir('restore-drill-scratch-root-');
    const now = new Date('2026-03-01T00:00:00Z');
    await createScratchDir(root, 'd', 'abcdef12', { now });
    await expect(createScratchDir(root, 'd', 'abcdef12', { now })).rejects.toThrow(ScratchError);
    await expect(createScratchDir(root, 'd', 'abcdef12', { now })).rejects.toThrow(
      /^cannot create scratch folder .*d-20260301T000000Z-abcdef12: EEXIST/,
    );
  });

  it('fails clearly when the root cannot be created', async () => {
    const base = await tempDir('restore-drill-scratch-root-');
    await writeFile(path.join(base, 'file'), 'x');
    await expect(createScratchDir(path.join(base, 'file', 'root'), 'd', 'r')).rejects.toThrow(
      new RegExp(`^cannot create scratch root ${path.join(base, 'file', 'root')}: ENOTDIR`),
    );
  });
});

describe('removeScratchDir', () => {
  it('removes a restored tree, symlinks removed and not followed', async () => {
    const base = await tempDir('restore-drill-scratch-rm-');
    const outside = path.join(base, 'outside.txt');
    await writeFile(outside, 'keep me');
    const dir = path.join(base, 'scratch');
    await writeTree(dir, { 'a/b/c.txt': 'c', 'd.txt': 'd' });
    await symlink(outside, path.join(dir, 'link'));
    await removeScratchDir(dir);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
    expect((await stat(outside)).isFile()).toBe(true);
  });

  it('removes read-only files inside read-only folders, as an unprivileged user', async () => {
    const base = await tempDir('restore-drill-scratch-rm-');
    await chmod(base, 0o755);
    const dir = path.join(base, 'scratch');
    await writeTree(dir, { 'ro/deeper/file.txt': 'x', 'ro/file.txt': 'y' });
    await run('chown', ['-R', '65534:65534', dir]);
    await giveToUnprivileged(base);
    await chmod(path.join(dir, 'ro', 'deeper', 'file.txt'), 0o444);
    await chmod(path.join(dir, 'ro', 'deeper'), 0o555);
    await chmod(path.join(dir, 'ro'), 0o000);
    await asUnprivileged(() => removeScratchDir(dir));
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it('is fine with a folder that is already gone', async () => {
    const base = await tempDir('restore-drill-scratch-rm-');
    await expect(removeScratchDir(path.join(base, 'never-made'))).resolves.toBeUndefined();
  });

  it('refuses to remove the file system root', async () => {
    await expect(removeScratchDir('/')).rejects.toThrow('refusing to remove / as a scratch folder');
  });

  it('says which folder it could not remove', async () => {
    const base = await tempDir('restore-drill-scratch-rm-');
    await chmod(base, 0o755);
    // Owned by root and read-only: nobody cannot make it writable.
    const dir = path.join(base, 'locked');
    await mkdir(path.join(dir, 'inner'), { recursive: true });
    await writeFile(path.join(dir, 'inner', 'x'), 'x');
    await chmod(dir, 0o555);
    await expect(asUnprivileged(() => removeScratchDir(path.join(dir, 'inner')))).rejects.toThrow(
      `cannot remove scratch folder ${path.join(dir, 'inner')}`,
    );
    await chmod(dir, 0o755);
  });
});
