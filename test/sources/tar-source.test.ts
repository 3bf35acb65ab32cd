import { randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  open,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import {
  BackupDamagedError,
  type RestoreOutcome,
  type RestoreSource,
} from '../../src/sources/restore-source.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { tarSourceKind } from '../../src/sources/tar-source.js';
import {
  listFiles,
  pythonTar,
  run,
  sha256sumTree,
  writeTree,
  type PyMember,
} from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';
import { describeSourceConformance } from './source-conformance.js';

const log = silentLogger();

function tarSource(pattern: string, configDir: string): RestoreSource {
  return tarSourceKind.create(tarSourceKind.configSchema.parse({ kind: 'tar', path: pattern }), {
    configDir,
    log,
  });
}

for (const [extension, flags] of [
  ['.tar.gz', '-czf'],
  ['.tar', '-cf'],
] as const) {
  describeSourceConformance({
    kind: `tar (${extension})`,
    capabilities: {
      files: true,
      globPaths: true,
      namedSets: true,
      sampling: true,
      emptySets: true,
      damage: true,
    },
    setName: (name) => `set-${name}${extension}`,
    async makeSet(tree, setsDir, name, time) {
      await mkdir(setsDir, { recursive: true });
      const archive = path.join(setsDir, name);
      await run('tar', [flags, archive, '-C', tree, '.']);
      if (time) await utimes(archive, time, time);
      return archive;
    },
    create: (group, configDir) => tarSource(path.join(group, 'set-*'), configDir),
    createFromGlob: tarSource,
    vanish: (id) => rm(id),
    vanishedMessage: (id) => `cannot read backup set ${id}: no such file or directory`,
    damage: async (id) => truncate(id, Math.floor((await stat(id)).size / 2)),
    damagedMessage: (id) => id,
  });
}

describe('tar source', () => {
  let root: string;
  let tree: string;
  let treeSums: Map<string, string>;

  beforeAll(async () => {
    root = await tempDir('restore-drill-tar-');
    tree = path.join(root, 'tree');
    await writeTree(tree, {
      'a.txt': 'alpha\n',
      'sub/b.txt': 'bravo\n',
      'sub/deeper/c.bin': Buffer.alloc(70_000, 7),
    });
    treeSums = await sha256sumTree(tree);
  });

  let counter = 0;
  /** A folder holding only `archive`-named files, and the tar source over `*` in it. */
  async function place(
    name: string,
  ): Promise<{ dir: string; archive: string; source: RestoreSource }> {
    const dir = path.join(root, `case-${++counter}`);
    await mkdir(dir, { recursive: true });
    return { dir, archive: path.join(dir, name), source: tarSource(path.join(dir, '*'), root) };
  }

  async function onlySet(source: RestoreSource): Promise<BackupSet> {
    const sets = await source.listSets({});
    expect(sets).toHaveLength(1);
    return sets[0] as BackupSet;
  }

  /** What restoring the source's only set into a new scratch folder throws (or resolves to). */
  async function restoreFailure(source: RestoreSource): Promise<unknown> {
    const set = await onlySet(source);
    const scratch = await tempDir('restore-drill-scratch-');
    return source.restore(set, scratch, { items: null, log }).catch((error: unknown) => error);
  }

  async function restoreAll(
    source: RestoreSource,
  ): Promise<{ outcome: RestoreOutcome; scratch: string }> {
    const scratch = await tempDir('restore-drill-scratch-');
    const outcome = await source.restore(await onlySet(source), scratch, { items: null, log });
    return { outcome, scratch };
  }

  async function restorePython(
    members: PyMember[],
    options: { format?: 'gnu' | 'pax' | 'ustar'; gzip?: boolean } = {},
  ) {
    const { archive, source } = await place(options.gzip ? 'set.tar.gz' : 'set.tar');
    await pythonTar(archive, members, options);
    return restoreAll(source);
  }

  describe('archives', () => {
    it('lists only .tar, .tar.gz and .tgz files, with their size', async () => {
      const { dir, source } = await place('x');
      for (const name of ['a.tar', 'b.tar.gz', 'c.tgz'])
        await run('tar', ['-czf', path.join(dir, name), '-C', tree, '.']);
      await writeFile(path.join(dir, 'd.zip'), 'zip');
      await writeFile(path.join(dir, 'e.tar.gz.sha256'), 'sum');
      await mkdir(path.join(dir, 'f.tar'));
      const sets = await source.listSets({});
      expect(sets.map((set) => path.basename(set.path))).toEqual(['a.tar', 'b.tar.gz', 'c.tgz']);
      for (const set of sets) expect(set.size).toBe((await stat(set.path)).size);
    });

    it('names the static base of its glob as the local path it reads', () => {
      const config = tarSourceKind.configSchema.parse({
        kind: 'tar',
        path: '/backups/files/*/nightly-*.tgz',
      });
      expect(tarSourceKind.localPaths?.(config, { configDir: '/etc' })).toEqual(['/backups/files']);
    });

    it('restores a .tgz archive', async () => {
      const { archive, source } = await place('set.tgz');
      await run('tar', ['-czf', archive, '-C', tree, 'a.txt', 'sub']);
      const { outcome, scratch } = await restoreAll(source);
      expect(outcome.refused).toEqual([]);
      expect(new Map(outcome.files.map((file) => [file.path, file.sha256]))).toEqual(treeSums);
      expect(await sha256sumTree(scratch)).toEqual(treeSums);
    });

    it('restores members of every size up to a worker batch, each with its own bytes and hash', async () => {
      // Sizes around the 1 MiB a member may have to go in a batch, and the 2 MiB batch
      // buffer: members that fill it, one that does not fit, empty ones between.
      const MiB = 1024 * 1024;
      const sizes = [MiB, MiB - 1, 0, MiB + 1, 700_000, 4096, MiB, 0, 1_400_000, MiB - 512, 1];
      const files: Record<string, Buffer> = {};
      for (const [index, size] of sizes.entries())
        files[`m/${String(index).padStart(2, '0')}.bin`] = Buffer.alloc(size, index + 1);
      for (let index = 0; index < 150; index++)
        files[`s/${String(index).padStart(3, '0')}.txt`] = Buffer.from(`small ${index}\n`);
      const sized = path.join(root, 'sized-tree');
      await writeTree(sized, files);
      const { archive, source } = await place('sized.tar.gz');
      await run('tar', ['-czf', archive, '-C', sized, '.']);
      const { outcome, scratch } = await restoreAll(source);
      expect(outcome.refused).toEqual([]);
      const sums = await sha256sumTree(sized);
      expect(new Map(outcome.files.map((file) => [file.path, file.sha256]))).toEqual(sums);
      expect(await sha256sumTree(scratch)).toEqual(sums);
      expect(outcome.files.find((file) => file.path === 'm/03.bin')?.size).toBe(MiB + 1);
    });

    it('tells gzip by its magic bytes, not the name: gzip data in a .tar', async () => {
      const { archive, source } = await place('misnamed.tar');
      await run('tar', ['-czf', archive, '-C', tree, '.']);
      const { outcome } = await restoreAll(source);
      expect(new Map(outcome.files.map((file) => [file.path, file.sha256]))).toEqual(treeSums);
    });

    it('tells gzip by its magic bytes, not the name: plain tar in a .tgz', async () => {
      const { archive, source } = await place('plain.tgz');
      await run('tar', ['-cf', archive, '-C', tree, '.']);
      const { outcome } = await restoreAll(source);
      expect(new Map(outcome.files.map((file) => [file.path, file.sha256]))).toEqual(treeSums);
    });

    it('restores pax long names and long link targets', async () => {
      const longDir = `${'pax-directory-name-'.repeat(6)}x`;
      const longFile = `${longDir}/${'file-'.repeat(30)}.txt`;
      const { outcome, scratch } = await restorePython(
        [
          { name: longFile, data: 'pax\n' },
          { name: 'short-link', type: 'symlink', linkname: longFile },
        ],
        { format: 'pax' },
      );
      expect(longFile.length).toBeGreaterThan(200);
      expect(outcome.refused).toEqual([]);
      expect(outcome.files.map((file) => file.path)).toEqual([longFile]);
      expect(await readlink(path.join(scratch, 'short-link'))).toBe(longFile);
      expect(await readFile(path.join(scratch, 'short-link'), 'utf8')).toBe('pax\n');
    });

    it('restores GNU long names written by the system tar', async () => {
      const { archive, source } = await place('gnu.tar');
      const longTree = path.join(root, 'gnu-long');
      const name = `${'gnu-long-name-'.repeat(10)}.txt`;
      await writeTree(longTree, { [name]: 'gnu\n' });
      await run('tar', ['--format=gnu', '-cf', archive, '-C', longTree, name]);
      const { outcome } = await restoreAll(source);
      expect(outcome.files.map((file) => file.path)).toEqual([name]);
    });

    /** The restored files as `sha256sum` lines of the tree (`treeSums`) would name them. */
    function restoredSums(outcome: RestoreOutcome): Map<string, string> {
      return new Map(outcome.files.map((file) => [file.path, file.sha256]));
    }

    it('restores a GNU incremental archive (tar --listed-incremental): its dumpdir members are folders', async () => {
      const { dir, archive, source } = await place('incremental.tar');
      await run('tar', [
        `--listed-incremental=${path.join(dir, '..', `snar-${counter}`)}`,
        '-cf',
        archive,
        '-C',
        tree,
        '.',
      ]);
      const { outcome, scratch } = await restoreAll(source);
      expect(outcome.refused).toEqual([]);
      expect(restoredSums(outcome)).toEqual(treeSums);
      expect((await stat(path.join(scratch, 'sub', 'deeper'))).isDirectory()).toBe(true);
      expect((await source.listItems(await onlySet(source), {})).map((item) => item.path)).toEqual(
        [...treeSums.keys()].sort(),
      );
    });

    it('restores an archive with a volume label (tar --label), which is not a member', async () => {
      const { archive, source } = await place('labelled.tar');
      await run('tar', ['--label=nightly 2026-12-07', '-cf', archive, '-C', tree, '.']);
      const { outcome, scratch } = await restoreAll(source);
      expect(outcome.refused).toEqual([]);
      expect(restoredSums(outcome)).toEqual(treeSums);
      await expect(stat(path.join(scratch, 'nightly 2026-12-07'))).rejects.toThrow(/ENOENT/);
    });

    it('stops at the end-of-archive marker as GNU tar does: bytes after it are not members', async () => {
      const other = path.join(root, 'other-tree');
      await writeTree(other, { 'z.txt': 'from another archive\n' });
      const made = async (name: string, gzip: boolean): Promise<string> => {
        const { archive } = await place(name);
        await run('tar', [gzip ? '-czf' : '-cf', archive, '-C', tree, '.']);
        return archive;
      };
      // Garbage after the marker, a second archive `cat`ed on, both inside gzip as well.
      const garbage = await made('garbage.tar', false);
      await writeFile(garbage, randomBytes(1000), { flag: 'a' });
      const concatenated = await made('cat.tar', false);
      await run('sh', ['-c', 'tar -cf - -C "$1" z.txt >> "$2"', 'sh', other, concatenated]);
      const gzipped = await made('cat.tar.gz', false);
      await run('sh', [
        '-c',
        'tar -cf - -C "$1" z.txt >> "$2" && gzip -nc "$2" > "$2.tmp" && mv "$2.tmp" "$2"',
        'sh',
        other,
        gzipped,
      ]);
      for (const archive of [garbage, concatenated, gzipped]) {
        const source = tarSource(archive, root);
        const { outcome } = await restoreAll(source);
        expect(outcome.refused, archive).toEqual([]);
        expect(restoredSums(outcome), archive).toEqual(treeSums);
        const listed = await source.listItems(await onlySet(source), {});
        expect(listed.map((item) => item.path)).not.toContain('z.txt');
        // GNU tar agrees: z.txt is not in the archive it reads.
        expect(await run('tar', ['-tf', archive])).not.toMatch(/z\.txt/);
      }
    });

    it('creates folders and an empty file', async () => {
      const { outcome, scratch } = await restorePython([
        { name: 'empty-folder', type: 'dir' },
        { name: 'empty.txt', data: '' },
      ]);
      expect(outcome.refused).toEqual([]);
      expect((await stat(path.join(scratch, 'empty-folder'))).isDirectory()).toBe(true);
      expect(outcome.files).toEqual([
        {
          path: 'empty.txt',
          size: 0,
          sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        },
      ]);
    });

    it('restores a safe symlink as a symlink and a hard link as a file with the same content', async () => {
      const { outcome, scratch } = await restorePython([
        { name: 'data/real.txt', data: 'real\n' },
        { name: 'data/alias', type: 'symlink', linkname: 'real.txt' },
        { name: 'copy.txt', type: 'hardlink', linkname: 'data/real.txt' },
      ]);
      expect(outcome.refused).toEqual([]);
      expect(outcome.files.map((file) => [file.path, file.size])).toEqual([
        ['copy.txt', 5],
        ['data/real.txt', 5],
      ]);
      expect(outcome.files[0]?.sha256).toBe(outcome.files[1]?.sha256);
      expect(outcome.links).toEqual([{ path: 'data/alias', target: 'real.txt' }]);
      expect((await lstat(path.join(scratch, 'data/alias'))).isSymbolicLink()).toBe(true);
      expect((await stat(path.join(scratch, 'copy.txt'))).ino).toBe(
        (await stat(path.join(scratch, 'data/real.txt'))).ino,
      );
    });

    it('restores hard links the system tar wrote', async () => {
      const { archive, source } = await place('links.tar');
      const linked = path.join(root, 'linked');
      await writeTree(linked, { 'one.txt': 'same\n' });
      await run('ln', [path.join(linked, 'one.txt'), path.join(linked, 'two.txt')]);
      await run('tar', ['-cf', archive, '-C', linked, 'one.txt', 'two.txt']);
      const { outcome, scratch } = await restoreAll(source);
      expect(outcome.refused).toEqual([]);
      expect(await listFiles(scratch)).toEqual(['one.txt', 'two.txt']);
      expect(outcome.files.map((file) => file.path)).toEqual(['one.txt', 'two.txt']);
    });

    it('lets a later member replace an earlier one of the same name', async () => {
      const { outcome, scratch } = await restorePython([
        { name: 'same.txt', data: 'first\n' },
        { name: 'same.txt', data: 'second\n' },
      ]);
      expect(outcome.files.map((file) => [file.path, file.size])).toEqual([['same.txt', 7]]);
      expect(await readFile(path.join(scratch, 'same.txt'), 'utf8')).toBe('second\n');
    });

    it('lists regular files only: not folders, symlinks, hard links or refused members', async () => {
      const { archive, source } = await place('items.tar');
      await pythonTar(archive, [
        { name: 'dir', type: 'dir' },
        { name: 'dir/a.txt', data: 'aaa' },
        { name: 'link', type: 'symlink', linkname: 'dir' },
        { name: 'link/through.txt', data: 'x' },
        { name: 'hard.txt', type: 'hardlink', linkname: 'dir/a.txt' },
        { name: '../evil.txt', data: 'x' },
        { name: 'pipe', type: 'fifo' },
        { name: './b.txt', data: 'bb' },
      ]);
      expect(await source.listItems(await onlySet(source), {})).toEqual([
        { path: 'b.txt', size: 2 },
        { path: 'dir/a.txt', size: 3 },
      ]);
    });

    it('restores a sample without looking at members outside it', async () => {
      const { archive, source } = await place('sample.tar');
      await pythonTar(archive, [
        { name: '../evil.txt', data: 'x' },
        { name: 'keep/a.txt', data: 'aaa' },
        { name: 'skip.txt', data: 'skip' },
        { name: 'link', type: 'symlink', linkname: 'keep' },
        { name: 'link/b.txt', data: 'b' },
      ]);
      const scratch = await tempDir('restore-drill-scratch-');
      const outcome = await source.restore(await onlySet(source), scratch, {
        items: new Set(['keep/a.txt', 'link/b.txt']),
        log,
      });
      expect(outcome.files.map((file) => file.path)).toEqual(['keep/a.txt']);
      expect(outcome.refused).toEqual([
        { entry: 'link/b.txt', reason: "path passes through the symlink 'link' of the set" },
      ]);
      expect(await listFiles(scratch)).toEqual(['keep/a.txt']);
    });
  });

  describe('refusals', () => {
    it("refuses a member with a '..' component (made by GNU tar -P)", async () => {
      const { archive, source } = await place('dotdot.tar');
      await run('tar', [
        '-P',
        '--transform',
        's,^,../,',
        '-cf',
        archive,
        '-C',
        tree,
        'a.txt',
        'sub/b.txt',
      ]);
      const { outcome, scratch } = await restoreAll(source);
      expect(outcome.refused).toEqual([
        { entry: '../a.txt', reason: "path has a '..' component" },
        { entry: '../sub/b.txt', reason: "path has a '..' component" },
      ]);
      expect(outcome.files).toEqual([]);
      await expect(lstat(path.join(scratch, '..', 'a.txt'))).rejects.toThrow(/ENOENT/);
      expect(await listFiles(scratch)).toEqual([]);
    });

    it('refuses a member that stays inside through ..: any .. component is refused', async () => {
      const { outcome } = await restorePython([{ name: 'sub/../inside.txt', data: 'x' }]);
      expect(outcome.refused).toEqual([
        { entry: 'sub/../inside.txt', reason: "path has a '..' component" },
      ]);
    });

    it('refuses an absolute member name (GNU tar would strip the slash)', async () => {
      const { archive, source } = await place('absolute.tar');
      await run('tar', ['--absolute-names', '-cf', archive, path.join(tree, 'a.txt')]);
      const { outcome } = await restoreAll(source);
      expect(outcome.refused).toEqual([
        { entry: path.join(tree, 'a.txt'), reason: 'absolute path' },
      ]);
      expect(outcome.files).toEqual([]);
    });

    it('restores links with absolute, outside and dangling targets as links (made by GNU tar from real links)', async () => {
      const { archive, source } = await place('outside-links.tar');
      const linkTree = path.join(root, 'outside-links-tree');
      await mkdir(path.join(linkTree, 'sub'), { recursive: true });
      await symlink('/etc/passwd', path.join(linkTree, 'passwd'));
      await symlink('../../outside', path.join(linkTree, 'sub', 'out'));
      await symlink('missing.txt', path.join(linkTree, 'dangling'));
      await writeFile(path.join(linkTree, 'ok.txt'), 'ok');
      await run('tar', ['-czf', archive, '-C', linkTree, 'passwd', 'sub', 'dangling', 'ok.txt']);
      const { outcome, scratch } = await restoreAll(source);
      expect(outcome.refused).toEqual([]);
      expect(outcome.links).toEqual([
        { path: 'dangling', target: 'missing.txt' },
        { path: 'passwd', target: '/etc/passwd' },
        { path: 'sub/out', target: '../../outside' },
      ]);
      for (const link of outcome.links ?? [])
        expect(await readlink(path.join(scratch, link.path))).toBe(link.target);
      expect(outcome.files.map((file) => file.path)).toEqual(['ok.txt']);
    });

    it('restores a link that leaves through a later archived link, as GNU tar does', async () => {
      const { outcome, scratch } = await restorePython([
        { name: 't', type: 'symlink', linkname: 'deep/deeper/s/..' },
        { name: 'deep/deeper/s', type: 'symlink', linkname: '../..' },
      ]);
      expect(outcome.refused).toEqual([]);
      expect(await readlink(path.join(scratch, 't'))).toBe('deep/deeper/s/..');
      expect(await readlink(path.join(scratch, 'deep/deeper/s'))).toBe('../..');
    });

    it('refuses a hard link whose target is not an earlier member', async () => {
      const { outcome, scratch } = await restorePython([
        { name: 'to-passwd', type: 'hardlink', linkname: '/etc/passwd' },
        { name: 'to-later', type: 'hardlink', linkname: 'later.txt' },
        { name: 'to-parent', type: 'hardlink', linkname: '../outside.txt' },
        { name: 'later.txt', data: 'later' },
      ]);
      expect(outcome.refused).toEqual([
        {
          entry: 'to-passwd',
          reason: "hard link target '/etc/passwd' is not an earlier file of the archive",
        },
        {
          entry: 'to-later',
          reason: "hard link target 'later.txt' is not an earlier file of the archive",
        },
        {
          entry: 'to-parent',
          reason: "hard link target '../outside.txt' is not an earlier file of the archive",
        },
      ]);
      expect(await listFiles(scratch)).toEqual(['later.txt']);
    });

    it('refuses a hard link to an earlier symlink or folder member', async () => {
      const { outcome } = await restorePython([
        { name: 'dir', type: 'dir' },
        { name: 'sym', type: 'symlink', linkname: 'dir' },
        { name: 'to-dir', type: 'hardlink', linkname: 'dir' },
        { name: 'to-sym', type: 'hardlink', linkname: 'sym' },
      ]);
      expect(outcome.refused.map((refusal) => refusal.entry)).toEqual(['to-dir', 'to-sym']);
    });

    it('refuses a member whose path passes through an archived symlink', async () => {
      const { outcome, scratch } = await restorePython([
        { name: 'etc', type: 'symlink', linkname: '/etc' },
        { name: 'etc/cron.d/evil', data: '* * * * * root evil' },
        { name: 'safe', type: 'symlink', linkname: 'real' },
        { name: 'real', type: 'dir' },
        { name: 'safe/through.txt', data: 'x' },
      ]);
      expect(outcome.refused).toEqual([
        { entry: 'etc/cron.d/evil', reason: "path passes through the symlink 'etc' of the set" },
        { entry: 'safe/through.txt', reason: "path passes through the symlink 'safe' of the set" },
      ]);
      // The links themselves are restored, created once every member is written.
      expect(await readlink(path.join(scratch, 'etc'))).toBe('/etc');
      expect(await listFiles(scratch)).toEqual([]);
    });

    it('refuses FIFO, character and block device members made from real files', async () => {
      const { archive, source } = await place('specials.tar');
      const specials = path.join(root, 'specials-tree');
      await mkdir(specials, { recursive: true });
      await run('mkfifo', [path.join(specials, 'pipe')]);
      await run('mknod', [path.join(specials, 'null'), 'c', '1', '3']);
      await run('mknod', [path.join(specials, 'disk'), 'b', '7', '0']);
      await writeFile(path.join(specials, 'ok.txt'), 'ok');
      await run('tar', ['-cf', archive, '-C', specials, 'pipe', 'null', 'disk', 'ok.txt']);
      const { outcome, scratch } = await restoreAll(source);
      expect(outcome.refused).toEqual([
        { entry: 'pipe', reason: 'special file: FIFO' },
        { entry: 'null', reason: 'special file: character device' },
        { entry: 'disk', reason: 'special file: block device' },
      ]);
      expect(await listFiles(scratch)).toEqual(['ok.txt']);
    });

    it('cannot judge GNU sparse members (tar --sparse, gnu and posix formats): an error naming the member, never damage or a pass', async () => {
      const tree = path.join(root, 'sparse-tree');
      await mkdir(tree, { recursive: true });
      // Six pieces of data between holes: more than an old-GNU header's four map entries.
      const image = await open(path.join(tree, 'disk.img'), 'w');
      for (let piece = 0; piece < 6; piece++) await image.write(`piece ${piece}`, piece * 65_536);
      await image.truncate(6 * 65_536);
      await image.close();
      for (const format of ['gnu', 'posix']) {
        const { archive, source } = await place(`sparse-${format}.tar`);
        await run('tar', ['-cSf', archive, `--format=${format}`, '-C', tree, 'disk.img']);
        const failure = await restoreFailure(source);
        expect(failure).toBeInstanceOf(SourceError);
        expect(failure).not.toBeInstanceOf(BackupDamagedError);
        expect((failure as Error).message).toBe(
          `archive ${archive}: member disk.img is a GNU sparse file (tar --sparse), which restore-drill cannot restore: the drill cannot judge this archive`,
        );
      }
    });

    it('refuses a member of a type it does not know', async () => {
      const { outcome } = await restorePython([
        { name: 'strange', type: 'raw', typeflag: 'Q', data: '' },
      ]);
      expect(outcome.refused).toEqual([
        { entry: 'strange', reason: "unsupported tar entry type (typeflag 'Q')" },
      ]);
    });
  });

  describe('damaged archives', () => {
    it('fails on a corrupt gzip stream, naming the archive', async () => {
      const { archive, source } = await place('corrupt.tar.gz');
      await run('tar', ['-czf', archive, '-C', tree, '.']);
      const bytes = await readFile(archive);
      for (let i = 20; i < bytes.length - 8; i += 7) bytes[i] = (bytes[i] as number) ^ 0x5a;
      await writeFile(archive, bytes);
      const set = await onlySet(source);
      const restore = source.restore(set, await tempDir('restore-drill-scratch-'), {
        items: null,
        log,
      });
      await expect(restore).rejects.toThrow(BackupDamagedError);
      await expect(source.listItems(set, {})).rejects.toThrow(
        new RegExp(
          `^unreadable archive ${escape(archive)}: corrupt gzip data \\(.+\\) before the first entry$`,
        ),
      );
    });

    it('fails on a truncated gzip stream, naming the entry being read', async () => {
      const { archive, source } = await place('short.tar.gz');
      const big = path.join(root, 'big-tree');
      await writeTree(big, { 'first.txt': 'first\n' });
      await run('dd', [
        'if=/dev/urandom',
        `of=${path.join(big, 'random.bin')}`,
        'bs=1M',
        'count=2',
        'status=none',
      ]);
      await run('tar', ['-czf', archive, '-C', big, 'first.txt', 'random.bin']);
      await truncate(archive, Math.floor((await stat(archive)).size / 2));
      const scratch = await tempDir('restore-drill-scratch-');
      await expect(
        source.restore(await onlySet(source), scratch, { items: null, log }),
      ).rejects.toThrow(
        `unreadable archive ${archive}: unexpected end of data at entry random.bin`,
      );
    });

    it('fails on a truncated tar, naming the entry being read', async () => {
      const { archive, source } = await place('short.tar');
      const big = path.join(root, 'big-tree-plain');
      await writeTree(big, { 'foo/bar': Buffer.alloc(100_000, 1), 'foo/baz': 'baz' });
      await run('tar', ['-cf', archive, '-C', big, 'foo/bar', 'foo/baz']);
      await truncate(archive, 50_000);
      const scratch = await tempDir('restore-drill-scratch-');
      await expect(
        source.restore(await onlySet(source), scratch, { items: null, log }),
      ).rejects.toThrow(`unreadable archive ${archive}: unexpected end of data at entry foo/bar`);
      await expect(source.listItems(await onlySet(source), {})).rejects.toThrow(
        `unreadable archive ${archive}: unexpected end of data at entry foo/bar`,
      );
    });

    it('keeps the members restored before a truncation, naming the entry and the offset', async () => {
      const { archive, source } = await place('partial.tar');
      const partial = path.join(root, 'partial-tree');
      await writeTree(partial, {
        'a.txt': 'alpha\n',
        'b.txt': 'bravo\n',
        'c/big.bin': Buffer.alloc(3 * 1024 * 1024, 7),
      });
      await run('tar', ['-cf', archive, '-C', partial, 'a.txt', 'b.txt', 'c/big.bin']);
      await truncate(archive, 2 * 1024 * 1024);
      const scratch = await tempDir('restore-drill-scratch-');
      const failure = await source
        .restore(await onlySet(source), scratch, { items: null, log })
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(BackupDamagedError);
      const damaged = failure as BackupDamagedError;
      expect(damaged.message).toBe(
        `unreadable archive ${archive}: unexpected end of data at entry c/big.bin`,
      );
      expect(damaged.damage).toEqual({
        detail: 'unexpected end of data',
        entry: 'c/big.bin',
        offset: 2 * 1024 * 1024,
      });
      expect(damaged.partial.files.map((file) => file.path)).toEqual(['a.txt', 'b.txt']);
      expect(await readFile(path.join(scratch, 'b.txt'), 'utf8')).toBe('bravo\n');
    });

    it('fails on a tar cut exactly after a member (no end-of-archive marker)', async () => {
      const { archive, source } = await place('cut.tar');
      const cut = path.join(root, 'cut-tree');
      await writeTree(cut, { 'one.txt': 'x'.repeat(512) });
      await run('tar', ['-cf', archive, '-C', cut, 'one.txt']);
      await truncate(archive, 1024);
      await expect(source.listItems(await onlySet(source), {})).rejects.toThrow(
        `unreadable archive ${archive}: unexpected end of data (no end-of-archive marker) after entry one.txt`,
      );
    });

    it('names the member before a header that fails its checksum, and the byte where that header starts', async () => {
      const { archive, source } = await place('bad-header.tar');
      const tree = path.join(root, 'bad-header-tree');
      await writeTree(tree, { 'a.txt': 'a'.repeat(600), 'b.txt': 'bravo\n', 'c.txt': 'charlie\n' });
      await run('tar', ['-cf', archive, '-C', tree, 'a.txt', 'b.txt', 'c.txt']);
      // Headers at 0, 512 + 1024 and 1536 + 512 + 512: a byte of c.txt's name flipped.
      const bytes = await readFile(archive);
      bytes[2560] = (bytes[2560] as number) ^ 0x20;
      await writeFile(archive, bytes);
      const failure = await restoreFailure(source);
      expect(failure).toBeInstanceOf(BackupDamagedError);
      expect((failure as BackupDamagedError).damage).toEqual({
        detail: 'invalid tar header (bad checksum or not a tar archive) after entry b.txt',
        entry: null,
        offset: 2560,
      });
      expect((failure as BackupDamagedError).partial.files.map((file) => file.path)).toEqual([
        'a.txt',
        'b.txt',
      ]);
    });

    it.each([
      ['data', 8],
      ['length', 4],
    ])(
      'fails a .tar.gz whose gzip %s check does not match without placing it at an entry or byte 0',
      async (check, fromEnd) => {
        const { archive, source } = await place(`bad-${check}-check.tar.gz`);
        const tree = path.join(root, `bad-${check}-check-tree`);
        await writeTree(tree, { 'a.txt': 'alpha\n', 'b.txt': 'bravo\n' });
        await run('tar', ['-czf', archive, '-C', tree, 'a.txt', 'b.txt']);
        // The trailer: CRC-32 of the data, then its length; every byte of data is intact.
        const bytes = await readFile(archive);
        bytes[bytes.length - fromEnd] = (bytes[bytes.length - fromEnd] as number) ^ 0x01;
        await writeFile(archive, bytes);
        const failure = await restoreFailure(source);
        expect(failure).toBeInstanceOf(BackupDamagedError);
        expect((failure as BackupDamagedError).damage).toEqual({
          detail: `corrupt gzip data (incorrect ${check} check): the data does not match the gzip checksum`,
          entry: null,
          offset: null,
        });
      },
    );

    it('fails on a .tar.gz with bytes after its gzip stream, saying so rather than calling its header bad', async () => {
      const { archive, source } = await place('trailing.tar.gz');
      const tree = path.join(root, 'trailing-tree');
      await writeTree(tree, { 'a.txt': 'alpha\n' });
      await run('tar', ['-czf', archive, '-C', tree, 'a.txt']);
      await writeFile(archive, 'appended by a broken upload\n', { flag: 'a' });
      await expect(source.listItems(await onlySet(source), {})).rejects.toThrow(
        `unreadable archive ${archive}: corrupt gzip data (bytes after the end of the gzip stream are not gzip: trailing garbage)`,
      );
    });

    it('cannot judge an archive compressed in a way it does not read (lzma, lz4): an error naming it, not damage', async () => {
      const { archive, source } = await place('set.tar');
      await run('sh', ['-c', 'tar -cf - -C "$1" . | xz --format=lzma > "$2"', 'sh', tree, archive]);
      const lzma = await restoreFailure(source);
      expect(lzma).toBeInstanceOf(SourceError);
      expect((lzma as Error).message).toBe(
        `cannot read backup set ${archive}: it is lzma-compressed, which restore-drill does not read; decompress it, or compress it with gzip, xz, bzip2 or zstd`,
      );
      // An lz4 frame (its magic number, then what lz4 would write).
      await writeFile(
        archive,
        Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), randomBytes(600)]),
      );
      expect(((await restoreFailure(source)) as Error).message).toMatch(/it is lz4-compressed/);
    });

    it('fails on a file that is not a tar archive', async () => {
      const { archive, source } = await place('noise.tar');
      await writeFile(archive, Buffer.alloc(4096, 'not a tar archive at all '));
      await expect(source.listItems(await onlySet(source), {})).rejects.toThrow(
        `unreadable archive ${archive}: invalid tar header (bad checksum or not a tar archive) before the first entry`,
      );
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
