import { mkdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { type RestoreSource } from '../../src/sources/restore-source.js';
import { SourceError } from '../../src/model/restore.js';
import { selectSet } from '../../src/sources/set-selection.js';
import { listFiles, run, sha256sumTree, writeTree } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';

/** How one source kind turns a folder tree into a backup set, and how it is configured. */
export interface ConformanceHarness {
  kind: string;
  /** Makes a set named `name` in `setsDir` from the files under `tree`; returns the set's absolute path. */
  makeSet(tree: string, setsDir: string, name: string): Promise<string>;
  /** A name of this kind that the glob `set-*` matches for the set called `name`. */
  setName(name: string): string;
  /** The source for the glob `pattern` (relative paths resolve from `configDir`). */
  create(pattern: string, configDir: string): RestoreSource;
}

const log = silentLogger();

/**
 * The behaviour every file-based source kind must share (restic's backend test
 * suite, in spirit): listing, selecting, restoring all or some, hashes equal to
 * `sha256sum`'s, prompt aborts, and clear errors for vanished sets.
 */
export function describeSourceConformance(harness: ConformanceHarness): void {
  describe(`${harness.kind} source conformance`, () => {
    let root: string;
    let setsDir: string;
    let trees: string;
    const setPaths = new Map<string, string>();

    const tree = async (name: string, files: Record<string, string | Buffer>): Promise<string> => {
      const dir = path.join(trees, name);
      await mkdir(dir, { recursive: true });
      await writeTree(dir, files);
      return dir;
    };
    const scratch = async (): Promise<string> => {
      const dir = path.join(root, 'scratch', `${Math.random().toString(36).slice(2)}`);
      await mkdir(dir, { recursive: true });
      return dir;
    };
    const source = (): RestoreSource => harness.create(path.join(setsDir, 'set-*'), root);
    const setOf = async (name: string) => {
      const sets = await source().listSets({});
      const found = sets.find((set) => set.path === setPaths.get(name));
      if (!found) throw new Error(`set ${name} not listed`);
      return found;
    };

    beforeAll(async () => {
      root = await tempDir(`restore-drill-${harness.kind.replace(/[^a-z0-9]+/gi, '-')}-`);
      setsDir = path.join(root, 'sets');
      trees = path.join(root, 'trees');
      await mkdir(setsDir, { recursive: true });
      const basic = await tree('basic', {
        'README.txt': 'hello\n',
        'data/a.csv': 'id,name\n1,ada\n2,grace\n',
        'data/nested/deeper/b.bin': Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251)),
        'data/empty.txt': '',
      });
      const times = [
        ['2026-01-01', new Date('2026-01-01T03:00:00Z')],
        ['2026-01-02', new Date('2026-01-02T03:00:00Z')],
        ['2026-01-03', new Date('2025-12-30T03:00:00Z')],
      ] as const;
      for (const [name, mtime] of times) {
        const made = await harness.makeSet(basic, setsDir, harness.setName(name));
        await utimes(made, mtime, mtime);
        setPaths.set(name, made);
      }
      const empty = await tree('empty', {});
      setPaths.set(
        'empty',
        await harness.makeSet(empty, path.join(root, 'other'), harness.setName('empty')),
      );
      // Not matched by set-*: must not be listed.
      await harness.makeSet(basic, setsDir, harness.setName('x').replace(/^set-/, 'other-'));
    });

    it('lists every set the glob matches, with absolute path as id and its own mtime', async () => {
      const sets = await source().listSets({});
      expect(sets.map((set) => set.id)).toEqual(
        [...setPaths.entries()]
          .filter(([name]) => name !== 'empty')
          .map(([, p]) => p)
          .sort(),
      );
      for (const set of sets) {
        expect(set.path).toBe(set.id);
        expect(path.isAbsolute(set.id)).toBe(true);
        expect(set.mtime?.getTime()).toBe((await stat(set.path)).mtime.getTime());
      }
      expect(
        sets.find((set) => set.path === setPaths.get('2026-01-03'))?.mtime?.toISOString(),
      ).toBe('2025-12-30T03:00:00.000Z');
    });

    it('resolves a relative glob from the config folder', async () => {
      const relative = harness.create(
        path.relative(root, path.join(setsDir, 'set-2026-01-0?*')),
        root,
      );
      const sets = await relative.listSets({});
      expect(sets).toHaveLength(3);
      const bracket = harness.create('sets/set-2026-01-0[12]*', root);
      expect((await bracket.listSets({})).map((set) => set.path)).toEqual([
        setPaths.get('2026-01-01'),
        setPaths.get('2026-01-02'),
      ]);
    });

    it('lists no sets when nothing matches, and says so when selecting', async () => {
      const none = harness.create(path.join(setsDir, 'set-1999-*'), root);
      const sets = await none.listSets({});
      expect(sets).toEqual([]);
      expect(() =>
        selectSet(sets, 'latest', {
          now: new Date(),
          random: Math.random,
          describe: 'the test source',
        }),
      ).toThrow(/no backup set matched the test source/);
    });

    it('refuses to list when the glob base folder does not exist', async () => {
      const missing = harness.create(path.join(root, 'no-such-folder', 'set-*'), root);
      await expect(missing.listSets({})).rejects.toThrow(SourceError);
      await expect(missing.listSets({})).rejects.toThrow(
        `${path.join(root, 'no-such-folder')}: no such file or directory`,
      );
    });

    it('hands sets to selectSet: latest by name, newest and oldest by mtime', async () => {
      const sets = await source().listSets({});
      const options = {
        now: new Date('2026-01-05T00:00:00Z'),
        random: () => 0.5,
        describe: 'test',
      };
      expect(selectSet(sets, 'latest', options).path).toBe(setPaths.get('2026-01-03'));
      expect(selectSet(sets, 'newest', options).path).toBe(setPaths.get('2026-01-02'));
      expect(selectSet(sets, 'oldest', options).path).toBe(setPaths.get('2026-01-03'));
    });

    it('lists the regular files of a set with their sizes', async () => {
      const items = await source().listItems(await setOf('2026-01-01'), {});
      expect(items).toEqual([
        { path: 'README.txt', size: 6 },
        { path: 'data/a.csv', size: 22 },
        { path: 'data/empty.txt', size: 0 },
        { path: 'data/nested/deeper/b.bin', size: 3000 },
      ]);
    });

    it('restores a whole set, each file hashed as sha256sum hashes it', async () => {
      const dir = await scratch();
      const outcome = await source().restore(await setOf('2026-01-02'), dir, { items: null, log });
      expect(outcome.refused).toEqual([]);
      const expected = await sha256sumTree(path.join(trees, 'basic'));
      expect(outcome.files.map((file) => [file.path, file.sha256])).toEqual([...expected].sort());
      expect(await sha256sumTree(dir)).toEqual(expected);
      expect(outcome.files.find((file) => file.path === 'data/empty.txt')).toEqual({
        path: 'data/empty.txt',
        size: 0,
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      });
      expect(outcome.files.find((file) => file.path === 'data/nested/deeper/b.bin')?.size).toBe(
        3000,
      );
    });

    it('restores only the requested items', async () => {
      const dir = await scratch();
      const items = new Set(['data/a.csv', 'data/nested/deeper/b.bin']);
      const outcome = await source().restore(await setOf('2026-01-01'), dir, { items, log });
      expect(outcome.refused).toEqual([]);
      expect(outcome.files.map((file) => file.path)).toEqual([
        'data/a.csv',
        'data/nested/deeper/b.bin',
      ]);
      expect(await listFiles(dir)).toEqual(['data/a.csv', 'data/nested/deeper/b.bin']);
      const expected = await sha256sumTree(path.join(trees, 'basic'));
      for (const file of outcome.files) expect(file.sha256).toBe(expected.get(file.path));
    });

    it('refuses a requested item the set does not hold', async () => {
      const dir = await scratch();
      const outcome = await source().restore(await setOf('2026-01-01'), dir, {
        items: new Set(['README.txt', 'data/missing.csv']),
        log,
      });
      expect(outcome.files.map((file) => file.path)).toEqual(['README.txt']);
      expect(outcome.refused).toEqual([
        { entry: 'data/missing.csv', reason: 'not found in the set' },
      ]);
    });

    it('restores an empty set as no files', async () => {
      const empty = harness.create(path.join(root, 'other', 'set-*'), root);
      const [set] = await empty.listSets({});
      expect(set?.path).toBe(setPaths.get('empty'));
      expect(await empty.listItems(set!, {})).toEqual([]);
      const dir = await scratch();
      expect(await empty.restore(set!, dir, { items: null, log })).toMatchObject({
        files: [],
        refused: [],
      });
    });

    it('restores names longer than 100 characters', async () => {
      const long = `${'very-long-folder-name-'.repeat(4)}/${'a-file-name-well-past-the-ustar-limit-'.repeat(3)}.txt`;
      expect(long.length).toBeGreaterThan(100);
      const made = await tree('long', { [long]: 'long name\n' });
      const setsLong = path.join(root, 'long');
      await harness.makeSet(made, setsLong, harness.setName('long'));
      const longSource = harness.create(path.join(setsLong, 'set-*'), root);
      const [set] = await longSource.listSets({});
      expect((await longSource.listItems(set!, {})).map((item) => item.path)).toEqual([long]);
      const dir = await scratch();
      const outcome = await longSource.restore(set!, dir, { items: null, log });
      expect(outcome.files.map((file) => file.path)).toEqual([long]);
      expect(await readFile(path.join(dir, long), 'utf8')).toBe('long name\n');
    });

    it('restores a set of 5,000 small files with every hash right', async () => {
      const files: Record<string, string> = {};
      for (let i = 0; i < 5000; i++)
        files[`d${i % 50}/file-${i}.txt`] = `content of file ${i}\n`.repeat(1 + (i % 7));
      const made = await tree('many', files);
      const setsMany = path.join(root, 'many');
      await harness.makeSet(made, setsMany, harness.setName('many'));
      const many = harness.create(path.join(setsMany, 'set-*'), root);
      const [set] = await many.listSets({});
      const dir = await scratch();
      const outcome = await many.restore(set!, dir, { items: null, log });
      expect(outcome.refused).toEqual([]);
      expect(outcome.files).toHaveLength(5000);
      const expected = await sha256sumTree(made);
      expect(new Map(outcome.files.map((file) => [file.path, file.sha256]))).toEqual(expected);
      expect((await many.listItems(set!, {})).length).toBe(5000);
    });

    it('restores a 50 MB file with the hash sha256sum gives', async () => {
      const dir = path.join(trees, 'large');
      await mkdir(dir, { recursive: true });
      await writeLarge(path.join(dir, 'large.bin'), 50 * 1024 * 1024);
      const setsLarge = path.join(root, 'large');
      await harness.makeSet(dir, setsLarge, harness.setName('large'));
      const large = harness.create(path.join(setsLarge, 'set-*'), root);
      const [set] = await large.listSets({});
      const target = await scratch();
      const outcome = await large.restore(set!, target, { items: null, log });
      const expected = (await run('sha256sum', ['large.bin'], dir)).slice(0, 64);
      expect(outcome.files).toEqual([
        { path: 'large.bin', size: 50 * 1024 * 1024, sha256: expected },
      ]);
      expect((await run('sha256sum', ['large.bin'], target)).slice(0, 64)).toBe(expected);
      await rm(target, { recursive: true });
    });

    it('stops promptly when the signal aborts mid-restore', async () => {
      const setsLarge = path.join(root, 'large');
      const large = harness.create(path.join(setsLarge, 'set-*'), root);
      const [set] = await large.listSets({});
      const controller = new AbortController();
      const reason = new Error('drill timed out');
      const started = performance.now();
      setTimeout(() => controller.abort(reason), 20);
      await expect(
        large.restore(set!, await scratch(), { items: null, log, signal: controller.signal }),
      ).rejects.toBe(reason);
      expect(performance.now() - started).toBeLessThan(1_500);
    });

    it('does not start when the signal has already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(
        source().restore(await setOf('2026-01-01'), await scratch(), {
          items: null,
          log,
          signal: controller.signal,
        }),
      ).rejects.toThrow(/abort/i);
    });

    it('fails with a SourceError naming the set when it vanished', async () => {
      const gone = harness.create(path.join(root, 'vanishing', 'set-*'), root);
      const made = await harness.makeSet(
        path.join(trees, 'basic'),
        path.join(root, 'vanishing'),
        harness.setName('gone'),
      );
      const [set] = await gone.listSets({});
      await rm(made, { recursive: true });
      const restore = gone.restore(set!, await scratch(), { items: null, log });
      await expect(restore).rejects.toThrow(SourceError);
      await expect(gone.restore(set!, await scratch(), { items: null, log })).rejects.toThrow(
        `cannot read backup set ${made}: no such file or directory`,
      );
      await expect(gone.listItems(set!, {})).rejects.toThrow(
        `cannot read backup set ${made}: no such file or directory`,
      );
    });
  });
}

/** Writes `size` pseudo-random bytes in 1 MiB pieces (incompressible, so gzip has real work). */
async function writeLarge(file: string, size: number): Promise<void> {
  await run('dd', [
    'if=/dev/urandom',
    `of=${file}`,
    'bs=1M',
    `count=${Math.round(size / (1024 * 1024))}`,
    'status=none',
  ]);
  expect((await stat(file)).size).toBe(size);
}
