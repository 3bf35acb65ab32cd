/**
 * Part of `npm run build`: runs PGlite's initdb once and keeps the data folder as
 * dist/pglite-seed/pglite-<version>.tar.gz, so a new embedded database starts from it
 * (src/evidence/pglite-seed.ts). Kept while the installed PGlite's version matches.
 */
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { installedPgliteVersion, seedFileName } from '../src/evidence/pglite-seed.js';

const seedDir = fileURLToPath(new URL('../pglite-seed/', import.meta.url));
const seed = join(seedDir, seedFileName(await installedPgliteVersion()));

if ((await stat(seed).catch(() => null)) === null) {
  const work = await mkdtemp(join(tmpdir(), 'restore-drill-seed-'));
  try {
    const lite = await PGlite.create({ dataDir: join(work, 'pgdata') });
    const dump = await lite.dumpDataDir('gzip');
    await lite.close();
    await mkdir(seedDir, { recursive: true });
    // Written under a temporary name first: a build stopped halfway leaves no broken seed.
    await writeFile(`${seed}.${process.pid}.partial`, Buffer.from(await dump.arrayBuffer()));
    await rename(`${seed}.${process.pid}.partial`, seed);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
