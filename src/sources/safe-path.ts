/**
 * Pure decisions about entry names and link targets: does an entry stay inside the
 * folder it is restored into? No I/O here; callers pass what they know about the
 * symlinks an archive (or a set on disk) holds.
 *
 * Paths handled here are relative, `/` separated, without `.` or empty components;
 * `''` is the root itself.
 */

/** The outcome of a check: the normalised path, or why the entry is refused. */
export type PathCheck = { ok: true; path: string } | { ok: false; reason: string };

/** Symlinks followed while resolving one path before it counts as a loop (Linux's own limit). */
export const MAX_SYMLINK_HOPS = 40;

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

/** Result of resolving a path the way the kernel would, through known symlinks. */
export type Resolution =
  { ok: true; path: string } | { ok: false; reason: 'escapes' | 'absolute' | 'loop'; via?: string };

/**
 * Resolves `components` (relative to the root) as the kernel would: `..` pops the
 * physical parent, and a component that is a known symlink is replaced by its target,
 * so `a/s/..` follows `s` first. Components that are not symlinks (real folders, or
 * paths that do not exist) are taken as they are. Never touches the file system.
 */
export function resolvePhysical(
  start: readonly string[],
  symlinks: ReadonlyMap<string, string>,
): Resolution {
  const resolved: string[] = [];
  // Components still to walk, last one first (so a link's target is pushed on top).
  const pending = [...start].reverse();
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.pop() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (resolved.length === 0) return { ok: false, reason: 'escapes' };
      resolved.pop();
      continue;
    }
    resolved.push(part);
    const key = resolved.join('/');
    const target = symlinks.get(key);
    if (target === undefined) continue;
    if (++hops > MAX_SYMLINK_HOPS) return { ok: false, reason: 'loop', via: key };
    if (target.startsWith('/')) return { ok: false, reason: 'absolute', via: key };
    resolved.pop();
    const targetParts = target.split('/');
    for (let i = targetParts.length - 1; i >= 0; i--) pending.push(targetParts[i] as string);
  }
  return { ok: true, path: resolved.join('/') };
}

/**
 * Decides whether the symlink at `linkPath` pointing at `target` stays inside the root,
 * given every other symlink the root will hold (`symlinks`, which may include this one).
 * Absolute targets are refused outright: inside scratch they would point at the live system.
 */
export function checkSymlinkTarget(
  linkPath: string,
  target: string,
  symlinks: ReadonlyMap<string, string>,
): PathCheck {
  if (target === '') return { ok: false, reason: 'symlink has an empty target' };
  if (target.includes('\0')) return { ok: false, reason: 'symlink target contains a NUL byte' };
  if (target.startsWith('/'))
    return { ok: false, reason: `symlink target '${target}' is absolute` };
  const start = [
    ...(parentOf(linkPath) === '' ? [] : parentOf(linkPath).split('/')),
    ...target.split('/'),
  ];
  const resolution = resolvePhysical(start, symlinks);
  if (resolution.ok) return { ok: true, path: resolution.path };
  if (resolution.reason === 'loop')
    return { ok: false, reason: `symlink target '${target}' loops (through '${resolution.via}')` };
  if (resolution.reason === 'absolute') {
    return {
      ok: false,
      reason: `symlink target '${target}' passes through '${resolution.via}', whose target is absolute`,
    };
  }
  return { ok: false, reason: `symlink target '${target}' resolves outside the restore folder` };
}

/** A symlink a restore wants to create, in entry order. */
export interface PendingSymlink {
  path: string;
  target: string;
}

/**
 * Settles a whole set of symlinks at once: each link is judged against every other
 * link (so a later link cannot turn an earlier one into an escape). One pass is
 * enough: a link whose resolution passes through a refused link meets the same
 * failure there, so it is refused too.
 */
export function settleSymlinks(links: readonly PendingSymlink[]): {
  accepted: PendingSymlink[];
  refused: { entry: string; reason: string }[];
} {
  const all = new Map(links.map((link) => [link.path, link.target]));
  const accepted: PendingSymlink[] = [];
  const refused: { entry: string; reason: string }[] = [];
  for (const link of links) {
    const check = checkSymlinkTarget(link.path, link.target, all);
    if (check.ok) accepted.push(link);
    else refused.push({ entry: link.path, reason: check.reason });
  }
  return { accepted, refused };
}
