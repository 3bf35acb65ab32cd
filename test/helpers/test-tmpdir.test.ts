import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIN_FREE_BYTES, testTmpdir } from './test-tmpdir.js';
import { tempDir } from './temp.js';

describe('the folder for the run’s temporary files', () => {
  it('leaves a TMPDIR the caller set alone', async () => {
    expect(await testTmpdir({ TMPDIR: '/var/tmp' })).toBeNull();
  });

  it('stays on the OS default when the candidate is missing or not tmpfs', async () => {
    expect(await testTmpdir({}, path.join(await tempDir(), 'missing'))).toBeNull();
    // The project's own folder: a disk, not memory.
    expect(await testTmpdir({}, import.meta.dirname)).toBeNull();
  });

  it('uses a sticky, world-writable folder on /dev/shm when it is tmpfs with room', async () => {
    const shm = await statfs('/dev/shm').catch(() => null);
    const usable =
      shm !== null && shm.type === 0x01021994 && shm.bavail * shm.bsize >= MIN_FREE_BYTES;
    const dir = await testTmpdir({});
    if (!usable) {
      expect(dir).toBeNull();
      return;
    }
    expect(dir).toBe('/dev/shm/restore-drill-tests');
    expect((await stat(dir!)).mode & 0o7777).toBe(0o1777);
  });
});
