import { describe, expect, it } from 'vitest';
import {
  checkSymlinkTarget,
  MAX_SYMLINK_HOPS,
  normaliseEntryPath,
  parentOf,
  resolvePhysical,
  settleSymlinks,
  symlinkAncestor,
} from '../../src/sources/safe-path.js';

describe('normaliseEntryPath', () => {
  it.each([
    ['a.txt', 'a.txt'],
    ['./a.txt', 'a.txt'],
    ['dir/', 'dir'],
    ['./dir//sub/./file', 'dir/sub/file'],
    ['./', ''],
    ['.', ''],
    ['..hidden/..x', '..hidden/..x'],
  ])('normalises %j to %j', (name, expected) => {
    expect(normaliseEntryPath(name)).toEqual({ ok: true, path: expected });
  });

  it.each([
    ['../etc/passwd', "path has a '..' component"],
    ['a/../../b', "path has a '..' component"],
    ['a/../b', "path has a '..' component"],
    ['..', "path has a '..' component"],
    ['/etc/passwd', 'absolute path'],
    ['//etc', 'absolute path'],
    ['a\0b', 'name contains a NUL byte'],
  ])('refuses %j: %s', (name, reason) => {
    expect(normaliseEntryPath(name)).toEqual({ ok: false, reason });
  });
});

describe('parentOf and symlinkAncestor', () => {
  it('gives the folder of a path, the root for a top-level one', () => {
    expect(parentOf('a/b/c')).toBe('a/b');
    expect(parentOf('a')).toBe('');
  });

  it('finds the first proper ancestor that is a symlink', () => {
    const links = new Set(['a/b', 'a/b/c']);
    expect(symlinkAncestor('a/b/c/d', (p) => links.has(p))).toBe('a/b');
    expect(symlinkAncestor('a/b', (p) => links.has(p))).toBeNull();
    expect(symlinkAncestor('x/y', (p) => links.has(p))).toBeNull();
  });
});

describe('resolvePhysical', () => {
  it('follows known symlinks before applying ..', () => {
    const links = new Map([['deep/deeper/s', '../..']]);
    // Lexically deep/deeper/s/.. is deep/deeper; physically s is the root, so .. leaves it.
    expect(resolvePhysical(['deep', 'deeper', 's', '..'], links)).toEqual({
      ok: false,
      reason: 'escapes',
    });
    expect(resolvePhysical(['deep', 'deeper', 's', 'x'], links)).toEqual({ ok: true, path: 'x' });
  });

  it('takes paths without symlinks lexically', () => {
    expect(resolvePhysical(['a', 'b', '..', 'c'], new Map())).toEqual({ ok: true, path: 'a/c' });
    expect(resolvePhysical(['a', '..', '..'], new Map())).toEqual({ ok: false, reason: 'escapes' });
  });

  it('reports an absolute target met on the way', () => {
    expect(resolvePhysical(['etc', 'passwd'], new Map([['etc', '/etc']]))).toEqual({
      ok: false,
      reason: 'absolute',
      via: 'etc',
    });
  });

  it('gives up on a loop after the kernel limit of hops', () => {
    const links = new Map([
      ['a', 'b'],
      ['b', 'a'],
    ]);
    expect(resolvePhysical(['a'], links)).toEqual({
      ok: false,
      reason: 'loop',
      via: expect.any(String),
    });
    expect(MAX_SYMLINK_HOPS).toBe(40);
  });
});

describe('checkSymlinkTarget', () => {
  const none = new Map<string, string>();

  it('accepts targets that stay inside, relative to the link folder', () => {
    expect(checkSymlinkTarget('a/link', 'file', none)).toEqual({ ok: true, path: 'a/file' });
    expect(checkSymlinkTarget('a/b/link', '../../top', none)).toEqual({ ok: true, path: 'top' });
    expect(checkSymlinkTarget('link', '.', none)).toEqual({ ok: true, path: '' });
  });

  it.each([
    ['link', '', 'symlink has an empty target'],
    ['link', 'a\0b', 'symlink target contains a NUL byte'],
    ['link', '/etc/shadow', "symlink target '/etc/shadow' is absolute"],
    ['a/link', '../..', "symlink target '../..' resolves outside the restore folder"],
    ['link', '..', "symlink target '..' resolves outside the restore folder"],
  ])('refuses %s -> %j', (link, target, reason) => {
    expect(checkSymlinkTarget(link, target, none)).toEqual({ ok: false, reason });
  });

  it('refuses a target that passes through a link to an absolute path', () => {
    const links = new Map([['root', '/']]);
    expect(checkSymlinkTarget('x', 'root/etc', links)).toEqual({
      ok: false,
      reason: "symlink target 'root/etc' passes through 'root', whose target is absolute",
    });
  });

  it('refuses a link that loops', () => {
    const links = new Map([['self', 'self/x']]);
    expect(checkSymlinkTarget('self', 'self/x', links)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^symlink target 'self\/x' loops/),
    });
  });
});

describe('settleSymlinks', () => {
  it('judges each link against all the others, whatever their order', () => {
    const { accepted, refused } = settleSymlinks([
      { path: 't', target: 'deep/deeper/s/..' },
      { path: 'deep/deeper/s', target: '../..' },
      { path: 'ok', target: 'deep' },
    ]);
    expect(refused).toEqual([
      {
        entry: 't',
        reason: "symlink target 'deep/deeper/s/..' resolves outside the restore folder",
      },
    ]);
    expect(accepted.map((link) => link.path)).toEqual(['deep/deeper/s', 'ok']);
  });

  it('refuses a link that resolves through a refused one', () => {
    const { accepted, refused } = settleSymlinks([
      { path: 'up', target: '/tmp' },
      { path: 'via', target: 'up/..' },
    ]);
    expect(refused).toEqual([
      { entry: 'up', reason: "symlink target '/tmp' is absolute" },
      {
        entry: 'via',
        reason: "symlink target 'up/..' passes through 'up', whose target is absolute",
      },
    ]);
    expect(accepted).toEqual([]);
  });

  it('accepts a set of links that all stay inside', () => {
    const links = [
      { path: 'a', target: 'b' },
      { path: 'b', target: 'c/d' },
      { path: 'c/e', target: '../a' },
    ];
    expect(settleSymlinks(links)).toEqual({ accepted: links, refused: [] });
  });
});
