import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';

const WAIT_MS = 50_000;

let ready: Promise<string> | undefined;

/**
 * A pristine PGlite data folder (initdb only, no migrations), made once per
 * vitest run under `root` (by global setup) and shared by every worker: a fresh
 * PGlite takes 3–8 s to create, a copy well under one. Whoever calls first builds
 * it in an exclusive `building` folder; the others wait for `ready`.
 */
export function pgliteTemplate(root: string): Promise<string> {
  ready ??= buildOrWait(root);
  return ready;
}

async function buildOrWait(root: string): Promise<string> {
  const dataDir = join(root, 'pgdata');
  const readyMark = join(root, 'ready');
  const failedMark = join(root, 'failed');
  await mkdir(root, { recursive: true });
  if (await exists(readyMark)) return dataDir;
  let builder = false;
  try {
    await mkdir(join(root, 'building'));
    builder = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (builder) {
    try {
      const lite = await PGlite.create({ dataDir });
      await lite.close();
      await writeFile(readyMark, 'ready\n');
      return dataDir;
    } catch (error) {
      await writeFile(failedMark, String(error instanceof Error ? error.stack : error));
      throw error;
    }
  }
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (await exists(readyMark)) return dataDir;
    if (await exists(failedMark))
      throw new Error(
        `another test worker failed to create the PGlite template: ${await readFile(failedMark, 'utf8')}`,
      );
    await sleep(100);
  }
  throw new Error(`the PGlite template in ${root} was not ready after ${WAIT_MS / 1000} s`);
}

/**
 * A fresh folder for `openEvidenceStore({ embeddedDir })` holding a copy of the
 * template as `pgdata`, so opening it runs the real code: lock, PGlite, migrations.
 */
export async function createEmbeddedDir(
  root: string,
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const template = await pgliteTemplate(root);
  const dir = await mkdtemp(join(tmpdir(), 'restore-drill-embedded-'));
  await cp(template, join(dir, 'pgdata'), { recursive: true });
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
