import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { describeFsError } from '../scratch/hashing-writer.js';
import { SourceError, type BackupSet } from '../model/restore.js';

/** A glob over backup sets, split at its first dynamic segment. */
export interface SplitGlob {
  /** Absolute folder where matching starts: everything before the first segment with `*`, `?`, `[`… */
  base: string;
  /** The rest of the pattern, relative to `base`; null when the pattern names one path. */
  rest: string | null;
}

/**
 * Splits `pattern` (resolved from `configDir` when relative) into its static base
 * folder and the dynamic rest, so the base can be checked, guarded and used as the
 * glob's cwd (the config folder's own name then never needs escaping).
 */
export function splitGlob(pattern: string, configDir: string): SplitGlob {
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((segment, index) => segment !== '' || index === 0);
  const staticParts: string[] = [];
  let index = 0;
  for (; index < segments.length; index++) {
    const segment = segments[index] as string;
    // A brace or extglob may span a '/', so its segment starts the dynamic part too.
    if (isDynamicPattern(segment) || /[{(]/.test(segment)) break;
    staticParts.push(segment.replace(/\\(.)/g, '$1'));
  }
  const staticPath = staticParts.join('/') || (absolute ? '/' : '.');
  const resolved = path.resolve(configDir, staticPath);
  if (index === segments.length) return { base: resolved, rest: null };
  return { base: resolved, rest: segments.slice(index).join('/') };
}

/** The static base of a source's glob: the folder (or the one path) the source reads. */
export function globBase(pattern: string, configDir: string): string {
  return splitGlob(pattern, configDir).base;
}

/** What a set must be: a folder, or a file whose name passes `accept`. */
export interface SetShape {
  kind: 'directory' | 'file';
  /** For files: which base names count (e.g. `.tar`, `.tar.gz`, `.tgz`); others are ignored. */
  accept?: (name: string) => boolean;
}

/**
 * Finds the backup sets matching `pattern` (tinyglobby: `*`, `?`, `[...]`, `**`, braces;
 * hidden names only when the pattern spells the dot). Each set's id and path are its
 * absolute path, its mtime the matched path's own (following a symlink to it). The glob
 * does not return symlinks to folders; a path without wildcards may name one.
 * A missing or unreadable base folder is a `SourceError`, not an empty list: a backup
 * mount that is gone must not read as "no backups".
 */
export async function findSets(
  pattern: string,
  configDir: string,
  shape: SetShape,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<BackupSet[]> {
  const { base, rest } = splitGlob(pattern, configDir);
  let candidates: string[];
  if (rest === null) {
    candidates = [base];
  } else {
    await checkBase(base, pattern);
    const matches = await glob(rest, {
      cwd: base,
      absolute: true,
      onlyDirectories: shape.kind === 'directory',
      onlyFiles: shape.kind === 'file',
      expandDirectories: false,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    options.signal?.throwIfAborted();
    candidates = matches.map((match) => (match.length > 1 ? match.replace(/\/+$/, '') : match));
  }
  const sets: BackupSet[] = [];
  for (const candidate of candidates) {
    if (shape.kind === 'file' && shape.accept && !shape.accept(path.basename(candidate))) continue;
    let info;
    try {
      info = await stat(candidate);
    } catch (error) {
      // Gone between the glob and the stat: not a candidate any more.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && rest !== null) continue;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SourceError(
        `cannot read backup set ${candidate}: ${describeFsError(error)}`,
        false,
        { cause: error, code: 'source.unreachable' },
      );
    }
    if (shape.kind === 'directory' ? !info.isDirectory() : !info.isFile()) continue;
    sets.push({
      id: candidate,
      path: candidate,
      size: shape.kind === 'file' ? info.size : null,
      mtime: info.mtime,
      hash: null,
    });
  }
  return sets.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function checkBase(base: string, pattern: string): Promise<void> {
  try {
    const info = await stat(base);
    if (!info.isDirectory())
      throw new SourceError(`cannot list backup sets of '${pattern}': ${base} is not a folder`);
    // The glob skips folders it cannot read without a word; say it here instead.
    await (await opendir(base)).close();
  } catch (error) {
    if (error instanceof SourceError) throw error;
    throw new SourceError(
      `cannot list backup sets of '${pattern}': ${base}: ${describeFsError(error)}`,
      false,
      { cause: error, code: 'source.unreachable' },
    );
  }
}
