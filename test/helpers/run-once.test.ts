import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOncePerRun } from './run-once.js';
import { tempDir } from './temp.js';

describe('buildOncePerRun', () => {
  it('builds once per folder, however often it is asked', async () => {
    const root = path.join(await tempDir(), 'template');
    let builds = 0;
    const build = async (): Promise<void> => {
      builds++;
      await writeFile(path.join(root, 'made'), 'x');
    };
    await Promise.all([1, 2, 3].map(() => buildOncePerRun(root, 'thing', build)));
    expect(builds).toBe(1);
    expect(await readFile(path.join(root, 'ready'), 'utf8')).toBe('ready\n');
  });

  it('uses what another worker made when its ready mark is there', async () => {
    const root = await tempDir();
    await writeFile(path.join(root, 'ready'), 'ready\n');
    await buildOncePerRun(root, 'thing', () => Promise.reject(new Error('built again')));
  });

  it('records a failed build for the other workers and rejects', async () => {
    const root = await tempDir();
    await expect(
      buildOncePerRun(root, 'thing', () => Promise.reject(new Error('restic init failed: boom'))),
    ).rejects.toThrow('restic init failed: boom');
    expect(await readFile(path.join(root, 'failed'), 'utf8')).toContain('restic init failed: boom');
  });

  it("says another worker failed, with that worker's error, when its failed mark is there", async () => {
    const root = await tempDir();
    await mkdir(path.join(root, 'building'));
    await writeFile(path.join(root, 'failed'), 'Error: restic init failed: boom');
    await expect(
      buildOncePerRun(root, 'restic template repository', () => Promise.resolve()),
    ).rejects.toThrow(
      'another test worker failed to create the restic template repository: Error: restic init failed: boom',
    );
  });
});
