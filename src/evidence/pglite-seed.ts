import type { Extensions, PGlite } from '@electric-sql/pglite';
import { closeSync, createReadStream, mkdirSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { normaliseEntryPath } from '../model/safe-path.js';
import { reasonOf } from './errors.js';

/**
 * A new PGlite data folder spends most of its first open in initdb (5 s on an idle
 * 2-core machine, 25 s under load). The build runs initdb once and keeps the result as
 * a seed (`dist/pglite-seed/pglite-<version>.tar.gz`, PGlite's own `dumpDataDir`); a
 * new evidence store or plain-dump database starts from a copy of it instead.
 */

/** Where the build writes seeds: `dist/pglite-seed`, seen from dist/src/evidence or src/evidence. */
export const SEED_DIRS = [
  fileURLToPath(new URL('../../pglite-seed/', import.meta.url)),
  fileURLToPath(new URL('../../dist/pglite-seed/', import.meta.url)),
];

/** The installed PGlite's version: a seed is only ever loaded by the PGlite that wrote it. */
export async function installedPgliteVersion(): Promise<string> {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  let dir = dirname(entry);
  for (;;) {
    const manifest = await readFile(join(dir, 'package.json'), 'utf8').catch(() => null);
    if (manifest !== null) {
      const parsed = JSON.parse(manifest) as { name?: string; version?: string };
      if (parsed.name === '@electric-sql/pglite' && parsed.version) return parsed.version;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package.json of PGlite above ${entry}`);
    dir = parent;
  }
}

/**
 * A seed's file name. Without `variant`, initdb's data folder; with one, a folder the build
 * took further (the evidence store's: initdb, then its migrations, named by them).
 */
export function seedFileName(version: string, variant?: string): string {
  return `pglite-${version}${variant === undefined ? '' : `-${variant}`}.tar.gz`;
}

/**
 * The paths of the seeds for the installed PGlite that exist, in the order of `variants`
 * (undefined: initdb's), when `dataDir` is new; empty otherwise (PGlite runs initdb).
 */
export async function pgliteSeedsFor(
  dataDir: string,
  seedDirs: readonly string[] = SEED_DIRS,
  variants: readonly (string | undefined)[] = [undefined],
): Promise<string[]> {
  const existing = await readdir(dataDir).catch(() => null);
  if (existing !== null && existing.length > 0) return [];
  const version = await installedPgliteVersion();
  const found: string[] = [];
  for (const variant of variants) {
    for (const dir of seedDirs) {
      const seed = join(dir, seedFileName(version, variant));
      if ((await stat(seed).catch(() => null))?.isFile()) {
        found.push(seed);
        break;
      }
    }
  }
  return found;
}

/** Read and inflate a seed a MiB at a time: at zlib's 16 kB, 2,400 trips through the thread pool idled 0.4 s. */
const SEED_CHUNK = 1 << 20;

/**
 * Unpacks a seed (PGlite's `dumpDataDir` tar.gz, members named from the data folder's root)
 * into `dataDir` as a stream, through a sibling folder renamed into place once complete.
 * PGlite's own `loadDataDir` inflates the whole archive in memory first: a first run peaked
 * at 300 MB, against 150 MB for every later one. Each member is written with synchronous
 * calls: a seed is a thousand small files, and a write stream per file cost four trips
 * through the thread pool each (0.75 s for a store's first open).
 */
async function unpackSeed(seed: string, dataDir: string): Promise<void> {
  const { extract } = await import('tar-stream');
  // What a run killed while unpacking left (callers hold the data folder alone: the store's lock).
  const parent = dirname(dataDir);
  const stale = `${basename(dataDir)}.seeding-`;
  for (const name of await readdir(parent).catch(() => []))
    if (name.startsWith(stale)) await rm(join(parent, name), { recursive: true, force: true });
  const partial = `${dataDir}.seeding-${process.pid}`;
  await mkdir(partial, { recursive: true, mode: 0o700 });
  try {
    const entries = extract();
    const made = new Set<string>([partial]);
    const folder = (path: string): void => {
      if (made.has(path)) return;
      mkdirSync(path, { recursive: true, mode: 0o700 });
      made.add(path);
    };
    const unpacking = (async () => {
      for await (const entry of entries) {
        // Members are named from the data folder's root ('/base/1/112').
        const { name, type } = entry.header;
        const checked = normaliseEntryPath(name.replace(/^\/+/, ''));
        if (!checked.ok) throw new Error(`member ${name}: ${checked.reason}`);
        const target = join(partial, checked.path);
        if (type === 'directory') {
          folder(target);
          entry.resume();
        } else if (type === 'file') {
          folder(dirname(target));
          const fd = openSync(target, 'w', 0o600);
          try {
            for await (const chunk of entry as AsyncIterable<Buffer>)
              for (let done = 0; done < chunk.length;) done += writeSync(fd, chunk, done);
          } finally {
            closeSync(fd);
          }
        } else {
          throw new Error(`member ${name} is a ${type}, not a file or folder`);
        }
      }
    })();
    await Promise.all([
      pipeline(
        createReadStream(seed, { highWaterMark: SEED_CHUNK }),
        createGunzip({ chunkSize: SEED_CHUNK }),
        entries,
      ),
      unpacking,
    ]);
    await rm(dataDir, { recursive: true, force: true });
    await rename(partial, dataDir);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw new Error(`seed ${seed} cannot be unpacked: ${reasonOf(error)}`, { cause: error });
  }
}

/**
 * PostgreSQL's shared buffers in every PGlite here (the evidence store, a restored evidence backup,
 * a plain dump loaded for counting) instead of its default 128 MB. PGlite's WASM zeroes the whole
 * shared memory segment at every start, about 6 ms per MB on V8's baseline compiler, and keeps it
 * resident: at 128 MB a start spent 0.7 s in memset and a plain-dump drill peaked 120 MB higher.
 * Loading 500,000 rows and evidence queries over 100,000 runs took the same time at 4 MB.
 */
const SHARED_BUFFERS = '4MB';

export interface OpenPgliteOptions {
  /** Told of each seed that did not load (it is set aside, and the next one or initdb used). */
  onSeedFailed?: (error: unknown) => void;
  /** Where to look for seeds; the build's folder by default. */
  seedDirs?: readonly string[];
  /** Seed variants to try first, best first; initdb's plain seed is always tried last. */
  seedVariants?: readonly string[];
  extensions?: Extensions;
}

/**
 * Opens PGlite on `dataDir`; a new folder starts from the build's seed when there is one.
 * A seed that does not load (damaged, or from another PGlite) is set aside: the folder is
 * emptied and the next seed is tried, then PGlite runs initdb as it would without a seed.
 */
export async function openPglite(
  dataDir: string,
  options: OpenPgliteOptions = {},
): Promise<PGlite> {
  const { PGlite } = await import('@electric-sql/pglite');
  const startParams = [...PGlite.defaultStartParams, '-c', `shared_buffers=${SHARED_BUFFERS}`];
  const extensions = options.extensions ?? {};
  const seeds = await pgliteSeedsFor(dataDir, options.seedDirs, [
    ...(options.seedVariants ?? []),
    undefined,
  ]);
  for (const seed of seeds) {
    try {
      await unpackSeed(seed, dataDir);
      return await PGlite.create({ dataDir, startParams, extensions });
    } catch (error) {
      options.onSeedFailed?.(error);
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  return PGlite.create({ dataDir, startParams, extensions });
}
