import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Where `npm test` compiles the whole project (tests too) with tsc before vitest runs. */
export const COMPILED_DIR = '.test-build';

/** The environment variable telling run-ts.mjs children may run from the compiled tree. */
export const COMPILED_ENV = 'RESTORE_DRILL_COMPILED_TESTS';

/** The newest mtime (ms) of a file under `dir` whose name passes `keep`; 0 when none. */
async function newest(dir: string, keep: (name: string) => boolean): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  let latest = 0;
  for (const entry of entries) {
    if (!entry.isFile() || !keep(entry.name)) continue;
    latest = Math.max(latest, (await stat(path.join(entry.parentPath, entry.name))).mtimeMs);
  }
  return latest;
}

/**
 * The compiled tree, when it is newer than every TypeScript source: child processes
 * (daemons, lock holders) then start in plain Node instead of transforming the
 * project again in each child. Null when missing or stale (run-ts.mjs transforms).
 */
export async function freshCompiledTree(projectRoot: string): Promise<string | null> {
  const compiled = path.join(projectRoot, COMPILED_DIR);
  // Touched by `npm test` once tsc has written the tree.
  const marker = await stat(path.join(compiled, '.compiled')).catch(() => null);
  if (marker === null) return null;
  let sources = 0;
  for (const folder of ['src', 'jobs', 'bin', 'test']) {
    sources = Math.max(
      sources,
      await newest(path.join(projectRoot, folder), (name) => name.endsWith('.ts')),
    );
  }
  return sources < marker.mtimeMs ? compiled : null;
}
