import { describe, expect, it } from 'vitest';
import { ScratchError } from '../../src/scratch/scratch-dir.js';
import { formatBytes } from '../../src/model/primitives.js';
import { freeBytes, reserveScratchSpace } from '../../src/scratch/space.js';
import { tempDir } from '../helpers/temp.js';

describe('scratch free space', () => {
  it('reserves room for the expected size times the margin when the file system has it', async () => {
    const dir = await tempDir();
    const reservation = await reserveScratchSpace(dir, 1000, 1.5);
    expect(reservation.needed).toBe(1500);
    expect(reservation.available).toBeGreaterThan(1500);
    reservation.release();
    reservation.release();
  });

  it('refuses a restore larger than the free space, saying how much is needed and free', async () => {
    const dir = await tempDir();
    const free = await freeBytes(dir);
    const error = await reserveScratchSpace(dir, free, 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScratchError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^scratch full: needed at least .+, .+ free on ${dir} \\(expected .+ × scratch margin 2; free some space, move scratch.root, or lower daemon.scratchMargin\\)$`,
      ),
    );
  });

  it('counts what restores already running here have reserved, and frees it on release', async () => {
    const dir = await tempDir();
    const free = await freeBytes(dir);
    // Two restores that each fit alone, not both: the second is refused while the first holds its share.
    const first = await reserveScratchSpace(dir, Math.floor(free * 0.6), 1);
    const error = await reserveScratchSpace(dir, Math.floor(free * 0.6), 1).catch(
      (e: unknown) => e as Error,
    );
    expect((error as Error).message).toMatch(/promised to restores already running/);
    first.release();
    const second = await reserveScratchSpace(dir, Math.floor(free * 0.6), 1);
    second.release();
  });

  it('names a scratch folder it cannot measure', async () => {
    const error = await reserveScratchSpace('/nonexistent/restore-drill-scratch', 1, 1).catch(
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(ScratchError);
    expect((error as Error).message).toMatch(
      /^cannot measure free space in \/nonexistent\/restore-drill-scratch: ENOENT/,
    );
  });

  it('formats sizes in messages with the one byte formatter, in the config units (decimal)', () => {
    expect([
      formatBytes(999),
      formatBytes(1500),
      formatBytes(2_500_000_000),
      formatBytes(12_300_000),
    ]).toEqual(['999 B', '1.5 KB', '2.5 GB', '12.3 MB']);
  });
});
