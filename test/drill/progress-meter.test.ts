import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRestoreMeter, type DrillProgress } from '../../src/drill/progress.js';
import { runCommand } from '../../src/exec/run-command.js';
import { tempDir } from '../helpers/temp.js';

const MiB = 1024 * 1024;

describe('restore meter', () => {
  let fs = '';
  let mounted = false;
  beforeAll(async () => {
    fs = path.join(await tempDir('rd-meter-'), 'fs');
    await mkdir(fs);
    // A file system of its own: only this test writes to it.
    const mount = await runCommand('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', fs]);
    if (mount.exitCode !== 0) throw new Error(`mount tmpfs: ${mount.stderrTail}`);
    mounted = true;
  });
  afterAll(async () => {
    if (mounted) await runCommand('umount', [fs]);
  });

  it('reads bytes and entries off the file system, and never counts down when another writer frees space', async () => {
    const scratch = path.join(fs, 'scratch');
    await mkdir(scratch);
    const other = path.join(fs, 'other-writer.bin');
    await writeFile(other, randomBytes(16 * MiB));

    const seen: DrillProgress[] = [];
    let wake: (() => void) | undefined;
    const next = (test: (progress: DrillProgress) => boolean) =>
      new Promise<DrillProgress>((resolve) => {
        wake = () => {
          const last = seen.at(-1);
          if (last && test(last)) resolve(last);
        };
      });
    const meter = await startRestoreMeter(
      scratch,
      { drill: 'd', runId: 'r', startedAtMs: Date.now() },
      (progress) => {
        seen.push(progress);
        wake?.();
      },
    );
    try {
      expect(seen[0]).toMatchObject({ phase: 'restore', bytes: 0, entries: 0 });
      await writeFile(path.join(scratch, 'restored.bin'), randomBytes(8 * MiB));
      const written = await next((progress) => (progress.bytes ?? 0) >= 8 * MiB);
      expect(written.entries).toBeGreaterThanOrEqual(1);

      // Another process frees twice what the restore wrote: the file system's delta goes negative.
      await rm(other);
      const count = seen.length;
      await next(() => seen.length >= count + 2);
      for (const progress of seen.slice(count))
        expect(progress.bytes).toBeGreaterThanOrEqual(written.bytes ?? 0);
    } finally {
      meter.stop();
    }
  }, 30_000);
});
