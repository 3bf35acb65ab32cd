import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fsPath } from '../../src/model/file-name.js';
import { hashTree } from '../../src/scratch/tree-hasher.js';
import { run, sha256sumTree } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('hashTree', () => {
  it('hashes every regular file as sha256sum does, records links unfollowed and leaves special files out', async () => {
    const dir = await tempDir('restore-drill-th-');
    await mkdir(path.join(dir, 'a', 'deep', 'er'), { recursive: true });
    await mkdir(path.join(dir, 'empty-folder'));
    await writeFile(path.join(dir, 'top.txt'), 'top\n');
    await writeFile(path.join(dir, 'a', 'empty'), '');
    // Larger than one 1 MiB read, and more files than one batch.
    await writeFile(path.join(dir, 'a', 'deep', 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 5, 7));
    for (let i = 0; i < 70; i++)
      await writeFile(path.join(dir, 'a', 'deep', 'er', `f${i}.txt`), `file ${i}\n`);
    await symlink('../top.txt', path.join(dir, 'a', 'to-top'));
    await symlink('/nowhere/at/all', path.join(dir, 'dangling'));
    await symlink('a', path.join(dir, 'to-folder'));
    await promisify(execFile)('mkfifo', [path.join(dir, 'a', 'pipe')]);

    const { files, links } = await hashTree(dir, { threads: 2 });

    const sums = await sha256sumTree(dir);
    expect(files.map((file) => file.path)).toEqual([...sums.keys()].sort());
    for (const file of files) expect(file.sha256).toBe(sums.get(file.path));
    expect(files.find((file) => file.path === 'a/deep/big.bin')?.size).toBe(3 * 1024 * 1024 + 5);
    expect(files.find((file) => file.path === 'a/empty')).toEqual({
      path: 'a/empty',
      size: 0,
      sha256: EMPTY_SHA256,
    });
    expect(links).toEqual([
      { path: 'a/to-top', target: '../top.txt' },
      { path: 'dangling', target: '/nowhere/at/all' },
      { path: 'to-folder', target: 'a' },
    ]);
  });

  it('names a file that is not UTF-8 in the escaped form, reading its bytes', async () => {
    const dir = await tempDir('restore-drill-th-');
    const escaped = 'caf\\xe9.txt';
    await writeFile(fsPath(dir, escaped), 'latin-1\n');
    const { files } = await hashTree(dir, { threads: 1 });
    expect(files).toEqual([
      {
        path: escaped,
        size: 8,
        sha256: (await run('sh', ['-c', 'cat ./* | sha256sum'], dir)).slice(0, 64),
      },
    ]);
  });

  it('returns nothing for an empty folder', async () => {
    const dir = await tempDir('restore-drill-th-');
    expect(await hashTree(dir, { threads: 2 })).toEqual({ files: [], links: [] });
  });

  it('fails naming the folder it cannot read', async () => {
    const dir = await tempDir('restore-drill-th-');
    const missing = path.join(dir, 'gone');
    await expect(hashTree(missing, { threads: 2 })).rejects.toMatchObject({
      code: 'ENOENT',
      message: expect.stringContaining(missing),
    });
  });

  it('stops with the signal’s reason when aborted', async () => {
    const dir = await tempDir('restore-drill-th-');
    await writeFile(path.join(dir, 'big.bin'), Buffer.alloc(8 * 1024 * 1024));
    const controller = new AbortController();
    const hashing = hashTree(dir, { threads: 2, signal: controller.signal });
    controller.abort(new Error('scratch is full'));
    await expect(hashing).rejects.toThrow('scratch is full');
    await expect(hashTree(dir, { threads: 2, signal: controller.signal })).rejects.toThrow(
      'scratch is full',
    );
  });
});
