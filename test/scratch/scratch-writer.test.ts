import { chmod, lstat, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LargeFileCopier } from '../../src/scratch/large-file-copy.js';
import { ScratchWriter } from '../../src/scratch/scratch-writer.js';
import { SourceError } from '../../src/model/restore.js';
import { asUnprivileged, giveToUnprivileged } from '../helpers/as-user.js';
import { listFiles } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

async function writeText(writer: ScratchWriter, rel: string, text: string): Promise<void> {
  const file = await writer.openFile(rel, 0o644);
  if (file === null) return;
  await file.push(Buffer.from(text));
  writer.recordFile(rel, await file.end());
}

describe('ScratchWriter', () => {
  it('refuses an entry whose name clashes with what is already there, and goes on', async () => {
    const scratch = await tempDir('restore-drill-sw-');
    const writer = new ScratchWriter(scratch);
    await writeText(writer, 'a', 'file a');
    await writeText(writer, 'a/b', 'under a file');
    await writer.directory('a');
    await writeText(writer, 'c', 'c');
    const { files, refused } = await writer.finish();
    expect(refused).toEqual([
      {
        entry: 'a/b',
        reason: "cannot create file: folder 'a' clashes with a file restored earlier",
      },
      {
        entry: 'a',
        reason: "cannot create folder: folder 'a' clashes with a file restored earlier",
      },
    ]);
    expect(files.map((file) => file.path)).toEqual(['a', 'c']);
  });

  it('replaces an earlier file with a later symlink of the same name', async () => {
    const scratch = await tempDir('restore-drill-sw-');
    const writer = new ScratchWriter(scratch);
    await writeText(writer, 'target', 't');
    await writeText(writer, 'name', 'first a file');
    writer.symlink('name', 'target');
    const { files } = await writer.finish();
    expect(files.map((file) => file.path)).toEqual(['target']);
    expect(await readlink(path.join(scratch, 'name'))).toBe('target');
  });

  it('creates no symlink when asked not to, but still refuses paths through one', async () => {
    const scratch = await tempDir('restore-drill-sw-');
    const writer = new ScratchWriter(scratch, { createSymlinks: false });
    writer.symlink('dir', '/etc');
    expect(writer.admit('dir/passwd')).toBeNull();
    const { refused } = await writer.finish();
    expect(refused).toEqual([
      { entry: 'dir/passwd', reason: "path passes through the symlink 'dir' of the set" },
    ]);
    await expect(lstat(path.join(scratch, 'dir'))).rejects.toThrow(/ENOENT/);
  });

  it('fails the restore with a SourceError when scratch itself cannot be written', async () => {
    const scratch = await tempDir('restore-drill-sw-');
    await giveToUnprivileged(scratch);
    await chmod(scratch, 0o500);
    const source = path.join(await tempDir('restore-drill-sw-src-'), 'x.txt');
    await writeFile(source, 'x');
    await chmod(path.dirname(source), 0o755);
    const writer = new ScratchWriter(scratch);
    const copier = new LargeFileCopier();
    const copying = asUnprivileged(() => writer.copyFile(source, 'x.txt', { copier }));
    await expect(copying).rejects.toBeInstanceOf(SourceError);
    await copier.close();
    await expect(asUnprivileged(() => writer.directory('sub'))).rejects.toThrow(
      'cannot create folder sub in scratch: permission denied',
    );
    expect(await listFiles(scratch)).toEqual([]);
  });
});
