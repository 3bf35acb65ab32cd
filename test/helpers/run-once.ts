import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const WAIT_MS = 50_000;

const builds = new Map<string, Promise<void>>();

/**
 * Runs `build` once per vitest run for the folder `root` (under global setup's run
 * folder), whichever worker asks first: it builds while holding an exclusive `building`
 * folder, the others wait for its `ready` mark (or its `failed` one).
 */
export function buildOncePerRun(
  root: string,
  what: string,
  build: () => Promise<void>,
): Promise<void> {
  let ready = builds.get(root);
  if (!ready) {
    ready = buildOrWait(root, what, build);
    builds.set(root, ready);
  }
  return ready;
}

async function buildOrWait(root: string, what: string, build: () => Promise<void>): Promise<void> {
  const readyMark = join(root, 'ready');
  const failedMark = join(root, 'failed');
  await mkdir(root, { recursive: true });
  if (await exists(readyMark)) return;
  let builder = false;
  try {
    await mkdir(join(root, 'building'));
    builder = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (builder) {
    try {
      await build();
      await writeFile(readyMark, 'ready\n');
      return;
    } catch (error) {
      await writeFile(failedMark, String(error instanceof Error ? error.stack : error));
      throw error;
    }
  }
  // Another worker process builds it: nothing to await in this process but its marks.
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (await exists(readyMark)) return;
    if (await exists(failedMark))
      throw new Error(
        `another test worker failed to create the ${what}: ${await readFile(failedMark, 'utf8')}`,
      );
    await sleep(100);
  }
  throw new Error(`the ${what} in ${root} was not ready after ${WAIT_MS / 1000} s`);
}

/** Whether something exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
