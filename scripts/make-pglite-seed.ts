/**
 * Part of `npm run build`: runs PGlite's initdb once and keeps the data folder as
 * dist/pglite-seed/pglite-<version>.tar.gz, so a new embedded database starts from it
 * (src/evidence/pglite-seed.ts). Kept while the installed PGlite's version matches.
 *
 * Then the same for a new evidence store: initdb's seed with every migration applied, as
 * pglite-<version>-evidence-<hash of the migration names>.tar.gz. Made again whenever the
 * compiled migrations differ from those it was made from; seeds of other migration lists go.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { migratedSeedVariant } from '../src/evidence/migrations/index.js';
import { installedPgliteVersion, seedFileName } from '../src/evidence/pglite-seed.js';

const seedDir = fileURLToPath(new URL('../pglite-seed/', import.meta.url));
const migrationsDir = fileURLToPath(new URL('../src/evidence/migrations/', import.meta.url));
const version = await installedPgliteVersion();
const seed = join(seedDir, seedFileName(version));

if ((await stat(seed).catch(() => null)) === null) {
  const work = await mkdtemp(join(tmpdir(), 'restore-drill-seed-'));
  try {
    const { PGlite } = await import('@electric-sql/pglite');
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

const variant = migratedSeedVariant();
const migratedSeed = join(seedDir, seedFileName(version, variant));
// What the seed was made from: the compiled migrations' text, kept beside it.
const sources = createHash('sha256');
for (const name of readdirSync(migrationsDir)
  .filter((file) => file.endsWith('.js'))
  .sort())
  sources.update(name).update(readFileSync(join(migrationsDir, name)));
const madeFrom = sources.digest('hex');
const recorded = await readFile(`${migratedSeed}.sources`, 'utf8').catch(() => null);
if (recorded !== madeFrom || (await stat(migratedSeed).catch(() => null)) === null) {
  // The store below must start from initdb's seed, not from the stale one.
  await rm(migratedSeed, { force: true });
  const work = await mkdtemp(join(tmpdir(), 'restore-drill-seed-'));
  try {
    // The product's own open: initdb's seed, the lock, every migration, a clean shutdown.
    const { openEvidenceStore } = await import('../src/evidence/open-store.js');
    const { silentLogger } = await import('../src/log/logger.js');
    const store = await openEvidenceStore({ embeddedDir: work, log: silentLogger() });
    await store.close();
    await packDataDir(join(work, 'pgdata'), `${migratedSeed}.${process.pid}.partial`);
    await rename(`${migratedSeed}.${process.pid}.partial`, migratedSeed);
    await writeFile(`${migratedSeed}.sources`, madeFrom);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const stale = seedFileName(version, 'evidence-');
  for (const name of await readdir(seedDir))
    if (
      name.startsWith(stale.replace(/\.tar\.gz$/, '')) &&
      !name.startsWith(basename(migratedSeed))
    )
      await rm(join(seedDir, name), { force: true });
}

/** A closed data folder as PGlite's `dumpDataDir` writes it: a tar.gz of members named from its root. */
async function packDataDir(dataDir: string, target: string): Promise<void> {
  const tar = pack();
  const adding = (async () => {
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        const name = `/${relative(dataDir, path)}`;
        if (entry.isDirectory()) {
          tar.entry({ name, type: 'directory', mode: 0o700 });
          await walk(path);
        } else if (entry.isFile()) {
          const { size } = await stat(path);
          const member = tar.entry({ name, size, mode: 0o600 });
          await pipeline(createReadStream(path), member);
        }
      }
    };
    await walk(dataDir);
    tar.finalize();
  })();
  await Promise.all([pipeline(tar, createGzip(), createWriteStream(target)), adding]);
}
