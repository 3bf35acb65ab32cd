import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { writeTree } from './artefacts.js';
import { PRE_RESTORE_FILE } from './hook-source.js';

/** A folder backup set under `backupsDir/<name>/<set>`, with an optional `.pre-restore` command (see hook-source.ts). */
export async function makeDirectorySet(
  backupsDir: string,
  name: string,
  options: { set?: string; files?: Record<string, string>; preRestore?: readonly string[] } = {},
): Promise<string> {
  const setDir = path.join(backupsDir, name, options.set ?? '2026-03-01');
  await writeTree(setDir, options.files ?? { 'data/a.txt': 'alpha\n', 'data/b.txt': 'bravo\n' });
  if (options.preRestore)
    await writeFile(path.join(setDir, PRE_RESTORE_FILE), JSON.stringify(options.preRestore));
  return setDir;
}

/** A drill over folder sets in `backupsDir/<name>/*`. */
export interface FixtureDrill {
  name: string;
  schedule?: string;
  timeout?: string;
  sample?: unknown;
}

/** A config file's text: folder drills, scratch, database and daemon settings as given. */
export function configText(options: {
  backupsDir: string;
  scratchRoot: string;
  drills: readonly FixtureDrill[];
  databaseUrl?: string;
  daemon?: Record<string, unknown>;
  keep?: 'never' | 'on-failure' | 'always';
}): string {
  return stringify({
    ...(options.databaseUrl ? { database: { url: options.databaseUrl } } : {}),
    scratch: { root: options.scratchRoot, keep: options.keep ?? 'never' },
    ...(options.daemon ? { daemon: options.daemon } : {}),
    drills: options.drills.map((drill) => ({
      name: drill.name,
      ...(drill.schedule ? { schedule: drill.schedule } : {}),
      ...(drill.timeout ? { timeout: drill.timeout } : {}),
      ...(drill.sample ? { sample: drill.sample } : {}),
      source: { kind: 'directory', path: path.join(options.backupsDir, drill.name, '*') },
      checks: { files: { min: 1 } },
    })),
  });
}
