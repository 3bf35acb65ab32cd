import { realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { sourceLocalPaths } from '../sources/config-registry.js';
import { ScratchError } from '../scratch/scratch-dir.js';

/**
 * Refuses a scratch root that would put restores (and their removal) somewhere
 * dangerous: the file system root, the user's home folder, or anywhere overlapping a
 * path a source reads (equal to it, containing it, or inside it), where a restore
 * could be mistaken for a backup or a clean-up could delete one. Symlinks are
 * resolved as far as the paths exist. Returns the root, resolved.
 *
 * Free-space checks sit beside this one (scratch/space.ts).
 */
export async function guardScratchRoot(
  root: string,
  sourcePaths: readonly string[],
): Promise<string> {
  const resolved = await resolveExisting(path.resolve(root));
  if (resolved === path.parse(resolved).root) {
    throw new ScratchError(
      `scratch root ${root} is the file system root; choose a folder of its own, e.g. /var/tmp/restore-drill`,
    );
  }
  const home = await resolveExisting(path.resolve(os.homedir()));
  if (resolved === home) {
    throw new ScratchError(
      `scratch root ${root} is the home folder ${home}; choose a folder of its own, e.g. ${path.join(home, 'restore-drill-scratch')}`,
    );
  }
  for (const sourcePath of sourcePaths) {
    const source = await resolveExisting(path.resolve(sourcePath));
    const relation =
      source === resolved
        ? 'is the same folder as'
        : isInside(resolved, source)
          ? 'is inside'
          : isInside(source, resolved)
            ? 'contains'
            : null;
    if (relation !== null) {
      throw new ScratchError(
        `scratch root ${root} ${relation} the source path ${sourcePath}; scratch must not overlap the backups it restores`,
      );
    }
  }
  return resolved;
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return (
    relative !== '' &&
    relative !== '..' &&
    !relative.startsWith('../') &&
    !path.isAbsolute(relative)
  );
}

/** realpath of the longest existing prefix, with the missing rest appended. */
async function resolveExisting(absolute: string): Promise<string> {
  const missing: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      const real = await realpath(current);
      return missing.length === 0 ? real : path.join(real, ...missing.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

/**
 * The guard over a whole config: `scratch.root` (relative to the config's folder)
 * against every local path any drill's source reads. The daemon runs it at start
 * and on reload, and every run before it makes its scratch folder.
 */
export function guardConfigScratchRoot(
  config: Pick<Config, 'scratch' | 'drills'>,
  configDir: string,
): Promise<string> {
  const sourcePaths = config.drills.flatMap((drill) => sourceLocalPaths(drill.source, configDir));
  return guardScratchRoot(path.resolve(configDir, config.scratch.root), sourcePaths);
}
