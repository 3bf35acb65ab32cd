/**
 * Pure decisions about entry names: does an entry stay inside the folder it is restored
 * into? No I/O here; callers pass what they know about the symlinks an archive (or a
 * set on disk) holds. Link targets are not judged: links are restored as links and
 * never followed.
 *
 * Paths handled here are relative, `/` separated, without `.` or empty components;
 * `''` is the root itself.
 */

/** The outcome of a check: the normalised path, or why the entry is refused. */
export type PathCheck = { ok: true; path: string } | { ok: false; reason: string };

/**
 * Normalises an entry name from an archive or a walk: drops `.` and empty components
 * and a trailing `/`. Refuses NUL bytes, absolute names (GNU tar would silently strip the
 * leading `/`: we refuse) and `..` components, even ones that would stay inside.
 */
export function normaliseEntryPath(name: string): PathCheck {
  if (name.includes('\0')) return { ok: false, reason: 'name contains a NUL byte' };
  if (name.startsWith('/')) return { ok: false, reason: 'absolute path' };
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, reason: "path has a '..' component" };
    parts.push(part);
  }
  return { ok: true, path: parts.join('/') };
}

/** The folder holding `path` (`''` for a top-level entry). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

/**
 * The first proper ancestor of `path` that is a symlink (by `isSymlink`), or null.
 * Writing through it would land wherever the link points, so such entries are refused.
 */
export function symlinkAncestor(
  path: string,
  isSymlink: (candidate: string) => boolean,
): string | null {
  let slash = path.indexOf('/');
  while (slash !== -1) {
    const ancestor = path.slice(0, slash);
    if (isSymlink(ancestor)) return ancestor;
    slash = path.indexOf('/', slash + 1);
  }
  return null;
}
