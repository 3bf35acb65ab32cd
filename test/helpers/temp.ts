import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];
const forgetters: Array<() => void> = [];

/** A fresh folder under the OS temp folder, removed after the test file. */
export async function tempDir(prefix = 'restore-drill-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * Registers `forget`, called when the test file's folders are removed: a helper that keeps
 * something it built in a temporary folder for the rest of the file (modules outlive files,
 * isolate is off) drops it there, or the next file would get a folder that is gone.
 */
export function forgetAfterFile(forget: () => void): void {
  forgetters.push(forget);
}

/** Removes the folders tempDir made (per-file-cleanup.ts calls it after each test file). */
export async function removeTempDirs(): Promise<void> {
  for (const forget of forgetters) forget();
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}
