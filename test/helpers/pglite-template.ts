import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPglite } from '../../src/evidence/pglite-seed.js';
import { copyTreeSync } from './artefacts.js';
import { buildOncePerRun } from './run-once.js';

/**
 * A pristine PGlite data folder (initdb only, no migrations), made once per
 * vitest run under `root` (by global setup) and shared by every worker: a fresh
 * PGlite takes 3–8 s to create, a copy well under one. It starts from the build's
 * seed when there is one (the product's own way, src/evidence/pglite-seed.ts), else initdb.
 */
export async function pgliteTemplate(root: string): Promise<string> {
  const dataDir = join(root, 'pgdata');
  await buildOncePerRun(root, 'PGlite template', async () => {
    const lite = await openPglite(dataDir);
    await lite.close();
  });
  return dataDir;
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
  copyTreeSync(template, join(dir, 'pgdata'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
