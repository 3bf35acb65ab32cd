import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findSets, globBase, splitGlob } from '../../src/sources/glob-sets.js';
import { SourceError } from '../../src/model/restore.js';
import { isTarArchiveName } from '../../src/sources/tar-source.js';
import { tempDir } from '../helpers/temp.js';

describe('splitGlob', () => {
  it.each([
    ['/backups/app/2026-*', '/cfg', '/backups/app', '2026-*'],
    ['/backups/app/*/daily', '/cfg', '/backups/app', '*/daily'],
    ['backups/set-?', '/cfg', '/cfg/backups', 'set-?'],
    ['../backups/[ab]*', '/cfg/sub', '/cfg/backups', '[ab]*'],
    ['/backups/{app,db}/x', '/cfg', '/backups', '{app,db}/x'],
    ['/*', '/cfg', '/', '*'],
    ['*.tgz', '/cfg', '/cfg', '*.tgz'],
  ])('splits %j (from %s) into base %s and rest %j', (pattern, configDir, base, rest) => {
    expect(splitGlob(pattern, configDir)).toEqual({ base, rest });
  });

  it('takes a pattern without wildcards as one path', () => {
    expect(splitGlob('/backups/app/latest/', '/cfg')).toEqual({
      base: '/backups/app/latest',
      rest: null,
    });
    expect(splitGlob('set.tar.gz', '/cfg')).toEqual({ base: '/cfg/set.tar.gz', rest: null });
  });

  it('gives the static base as the local path', () => {
    expect(globBase('backups/*/x', '/etc/rd')).toBe('/etc/rd/backups');
  });
});

describe('findSets', () => {
  let root: string;

  beforeAll(async () => {
    root = await tempDir('restore-drill-glob-');
    for (const name of ['2026-01-01', '2026-01-02', '2026-02-01', 'other', '.hidden-2026'])
      await mkdir(path.join(root, 'sets', name), { recursive: true });
    await writeFile(path.join(root, 'sets', '2026-03-01'), 'a file, not a folder');
    await mkdir(path.join(root, 'archives'), { recursive: true });
    for (const name of ['a.tar', 'b.tar.gz', 'c.tgz', 'd.tar.bz2', 'e.zip', 'f.tar.gz.sha256'])
      await writeFile(path.join(root, 'archives', name), name);
    await utimes(
      path.join(root, 'sets', '2026-01-02'),
      new Date('2026-01-02T00:00:00Z'),
      new Date('2026-01-02T00:00:00Z'),
    );
  });

  const folders = { kind: 'directory' } as const;
  const names = (sets: { path: string }[]): string[] => sets.map((set) => path.basename(set.path));

  it('matches folders with *, skipping files and hidden names', async () => {
    expect(names(await findSets(path.join(root, 'sets', '*'), root, folders))).toEqual([
      '2026-01-01',
      '2026-01-02',
      '2026-02-01',
      'other',
    ]);
  });

  it('matches with ? and [...]', async () => {
    expect(names(await findSets(path.join(root, 'sets', '2026-0?-01'), root, folders))).toEqual([
      '2026-01-01',
      '2026-02-01',
    ]);
    expect(names(await findSets(path.join(root, 'sets', '2026-01-0[2-9]'), root, folders))).toEqual(
      ['2026-01-02'],
    );
  });

  it('resolves a relative pattern from the config folder, whatever characters its name holds', async () => {
    const configDir = path.join(root, 'conf [x] (y)');
    await mkdir(path.join(configDir, 'sets', '2026-05-05'), { recursive: true });
    expect(names(await findSets('sets/2026-*', configDir, folders))).toEqual(['2026-05-05']);
    expect(names(await findSets('../sets/2026-01-*', configDir, folders))).toEqual([
      '2026-01-01',
      '2026-01-02',
    ]);
  });

  it('gives each set its absolute path as id, its own mtime, no size for folders and no hash', async () => {
    const [set] = await findSets(path.join(root, 'sets', '2026-01-02'), root, folders);
    expect(set).toEqual({
      id: path.join(root, 'sets', '2026-01-02'),
      path: path.join(root, 'sets', '2026-01-02'),
      size: null,
      mtime: new Date('2026-01-02T00:00:00Z'),
      hash: null,
    });
  });

  it('matches files for archives, keeping only the accepted names, with their size', async () => {
    const sets = await findSets(path.join(root, 'archives', '*'), root, {
      kind: 'file',
      accept: isTarArchiveName,
    });
    expect(names(sets)).toEqual(['a.tar', 'b.tar.gz', 'c.tgz', 'd.tar.bz2']);
    expect(sets.map((set) => set.size)).toEqual([5, 8, 5, 9]);
  });

  it('follows a path naming a symlink to a set, taking the set folder mtime', async () => {
    const linkDir = path.join(root, 'linked');
    await mkdir(linkDir, { recursive: true });
    await symlink(path.join(root, 'sets', '2026-01-02'), path.join(linkDir, 'latest'));
    const [set] = await findSets(path.join(linkDir, 'latest'), root, folders);
    expect(set?.path).toBe(path.join(linkDir, 'latest'));
    expect(set?.mtime).toEqual(new Date('2026-01-02T00:00:00Z'));
  });

  it('lists nothing for a literal path that does not exist', async () => {
    expect(await findSets(path.join(root, 'sets', 'no-such-set'), root, folders)).toEqual([]);
  });

  it('fails with a SourceError when the base folder is missing or a file', async () => {
    await expect(findSets(path.join(root, 'missing', '*'), root, folders)).rejects.toThrow(
      SourceError,
    );
    await expect(findSets(path.join(root, 'missing', '*'), root, folders)).rejects.toThrow(
      `cannot list backup sets of '${path.join(root, 'missing', '*')}': ${path.join(root, 'missing')}: no such file or directory`,
    );
    await expect(
      findSets(path.join(root, 'archives', 'a.tar', '*'), root, folders),
    ).rejects.toThrow(`${path.join(root, 'archives', 'a.tar')} is not a folder`);
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(
      findSets(path.join(root, 'sets', '*'), root, folders, { signal: controller.signal }),
    ).rejects.toThrow('stop');
  });
});
