import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import { parseScratchDirName, removeScratchDir } from './scratch-dir.js';

export interface SweepOptions {
  /** Remove folders made longer ago than this (ms), by the time in their name. */
  olderThanMs: number;
  /** Absolute paths of folders to leave whatever their age (those of unfinished runs). */
  spare: ReadonlySet<string>;
  log: Logger;
  now?: Date;
}

/** What a sweep did. */
export interface SweepResult {
  removed: string[];
  /** Old enough, but spared (an unfinished run's). */
  spared: string[];
  /** Could not be removed, with the reason. */
  failed: Array<{ dir: string; reason: string }>;
}

/**
 * Removes leftover scratch folders directly under `root`: only folders named as
 * createScratchDir names them (nothing else a person put there), made more than
 * `olderThanMs` ago, and not in `spare`. Symlinks are never followed. A missing
 * root is an empty sweep.
 */
export async function sweepScratchRoot(root: string, options: SweepOptions): Promise<SweepResult> {
  const now = (options.now ?? new Date()).getTime();
  const result: SweepResult = { removed: [], spared: [], failed: [] };
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw error;
  }
  for (const name of names.sort()) {
    const parsed = parseScratchDirName(name);
    if (!parsed || now - parsed.createdAt.getTime() <= options.olderThanMs) continue;
    const dir = path.join(root, name);
    const info = await lstat(dir).catch(() => null);
    if (!info?.isDirectory()) continue;
    if (options.spare.has(dir)) {
      result.spared.push(dir);
      continue;
    }
    try {
      await removeScratchDir(dir);
      result.removed.push(dir);
      options.log.info(
        { dir, createdAt: parsed.createdAt.toISOString() },
        'removed leftover scratch folder',
      );
    } catch (error) {
      result.failed.push({ dir, reason: (error as Error).message });
      options.log.warn(
        { dir, err: (error as Error).message },
        'could not remove leftover scratch folder',
      );
    }
  }
  return result;
}
