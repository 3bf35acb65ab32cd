import { mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import {
  createScratchDir,
  isScratchDirOf,
  parseScratchDirName,
} from '../../src/scratch/scratch-dir.js';
import { sweepScratchRoot } from '../../src/scratch/sweep.js';
import { tempDir } from '../helpers/temp.js';

const DAY = 86_400_000;

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe('scratch folder names', () => {
  it('reads back what createScratchDir writes', async () => {
    const root = await tempDir();
    const dir = await createScratchDir(
      root,
      'nightly.files',
      '0f1e2d3c-aaaa-bbbb-cccc-000000000000',
      { now: new Date('2026-03-01T03:04:05.678Z') },
    );
    expect(path.basename(dir)).toBe('nightly.files-20260301T030405Z-0f1e2d3c');
    expect(parseScratchDirName(path.basename(dir))).toEqual({
      drill: 'nightly.files',
      createdAt: new Date('2026-03-01T03:04:05Z'),
      shortId: '0f1e2d3c',
    });
    expect(isScratchDirOf(dir, '0f1e2d3c-aaaa-bbbb-cccc-000000000000')).toBe(true);
    expect(isScratchDirOf(dir, '99999999-aaaa-bbbb-cccc-000000000000')).toBe(false);
  });

  it('rejects names it would not give', () => {
    for (const name of [
      'precious',
      'nightly-20260301T030405-0f1e2d3c',
      'nightly-20261301T030405Z-0f1e2d3c',
      '-20260301T030405Z-0f1e2d3c',
      'a-20260301T030405Z-',
    ]) {
      expect(parseScratchDirName(name), name).toBeNull();
    }
  });
});

describe('sweepScratchRoot', () => {
  it('removes old scratch folders, sparing young ones, spared ones and anything not named as scratch', async () => {
    const root = await tempDir();
    const now = new Date('2026-03-10T00:00:00Z');
    const make = async (drill: string, id: string, at: string) => {
      const dir = await createScratchDir(root, drill, id, { now: new Date(at) });
      await mkdir(path.join(dir, 'nested'), { recursive: true });
      await writeFile(path.join(dir, 'nested', 'file'), 'data');
      return dir;
    };
    const old = await make('a', 'aaaaaaaa-1', '2026-03-01T00:00:00Z');
    const young = await make('b', 'bbbbbbbb-1', '2026-03-09T12:00:00Z');
    const unfinished = await make('c', 'cccccccc-1', '2026-03-01T00:00:00Z');
    const stranger = path.join(root, 'notes-from-an-operator');
    await mkdir(stranger);
    const oddFile = path.join(root, 'x-20200101T000000Z-deadbeef');
    await writeFile(oddFile, 'a file, not a folder');
    const outside = await tempDir();
    await symlink(outside, path.join(root, 'y-20200101T000000Z-deadbeef'));

    const result = await sweepScratchRoot(root, {
      olderThanMs: 3 * DAY,
      spare: new Set([unfinished]),
      log: silentLogger(),
      now,
    });
    expect(result).toEqual({ removed: [old], spared: [unfinished], failed: [] });
    expect(await exists(old)).toBe(false);
    for (const kept of [young, unfinished, stranger, oddFile, outside])
      expect(await exists(kept), kept).toBe(true);
  });

  it('sweeps nothing from a root that does not exist yet', async () => {
    const root = path.join(await tempDir(), 'not-made-yet');
    expect(
      await sweepScratchRoot(root, { olderThanMs: DAY, spare: new Set(), log: silentLogger() }),
    ).toEqual({ removed: [], spared: [], failed: [] });
  });
});
