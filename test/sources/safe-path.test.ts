import { describe, expect, it } from 'vitest';
import { normaliseEntryPath, parentOf, symlinkAncestor } from '../../src/model/safe-path.js';

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
