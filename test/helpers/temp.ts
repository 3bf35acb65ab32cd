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
 * `make`, run at most once per test file: later calls in the file get its first result, and the
 * next file runs it afresh. For what a helper builds in temporary folders and keeps for the rest
 * of the file (modules outlive files, isolate is off): kept longer, the next file would get a
 * folder that is gone.
 */
export function oncePerFile<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  forgetters.push(() => {
    made = undefined;
  });
  return () => (made ??= { value: make() }).value;
}

/** Removes the folders tempDir made (per-file-cleanup.ts calls it after each test file). */
export async function removeTempDirs(): Promise<void> {
  for (const forget of forgetters) forget();
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}
