import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migratedSeedVariant } from '../../src/evidence/migrations/index.js';
import { openPglite } from '../../src/evidence/pglite-seed.js';
import { copyTreeSync } from './artefacts.js';
import { buildOncePerRun } from './run-once.js';

/** `store`: a new evidence store, every migration applied. `empty`: initdb's database, no schema. */
export type PgliteTemplateKind = 'store' | 'empty';

/**
 * A PGlite data folder of `kind`, made once per vitest run under `root` (by global setup) and
 * shared by every worker: a fresh PGlite takes 3–8 s to create, a copy well under one. A
 * `store` starts as the product starts a new store (src/evidence/open-store.ts): from the
 * build's migrated seed, else initdb's; an `empty` one from initdb's seed, else initdb.
 */
export async function pgliteTemplate(
  root: string,
  kind: PgliteTemplateKind = 'store',
): Promise<string> {
  const home = kind === 'store' ? root : join(root, kind);
  const dataDir = join(home, 'pgdata');
  await buildOncePerRun(home, `PGlite ${kind} template`, async () => {
    const seedVariants = kind === 'store' ? [migratedSeedVariant()] : [];
    const lite = await openPglite(dataDir, { seedVariants });
    await lite.close();
  });
  return dataDir;
}

/**
 * A fresh folder for `openEvidenceStore({ embeddedDir })` holding a copy of a template as
 * `pgdata`, so opening it runs the real code: lock, PGlite, and what migrations are left.
 */
export async function createEmbeddedDir(
  root: string,
  kind: PgliteTemplateKind = 'store',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const template = await pgliteTemplate(root, kind);
  const dir = await mkdtemp(join(tmpdir(), 'restore-drill-embedded-'));
  copyTreeSync(template, join(dir, 'pgdata'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
