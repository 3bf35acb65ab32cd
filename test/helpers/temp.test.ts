import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { oncePerFile, removeTempDirs, tempDir } from './temp.js';

describe('test/helpers/temp', () => {
  it('oncePerFile makes its value once per file, and afresh once the file’s folders are removed', async () => {
    let calls = 0;
    const folder = oncePerFile(() => {
      calls++;
      return tempDir('restore-drill-once-');
    });
    const first = await folder();
    expect(await folder()).toBe(first);
    expect(calls).toBe(1);

    // What per-file-cleanup.ts does after each file.
    await removeTempDirs();
    await expect(stat(first)).rejects.toThrow(/ENOENT/);
    const next = await folder();
    expect(next).not.toBe(first);
    expect((await stat(next)).isDirectory()).toBe(true);
    expect(calls).toBe(2);
  });
});
