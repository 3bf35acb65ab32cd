import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { BackupDamagedError, type RestoreSource } from '../../src/sources/restore-source.js';
import { SourceError } from '../../src/model/restore.js';
import { selectSet } from '../../src/sources/set-selection.js';
import { listFiles, run, sha256sumTree, writeTree } from '../helpers/artefacts.js';
import { oncePerFile, tempDir } from '../helpers/temp.js';

/**
 * How one source kind turns a folder tree into a backup set, where its sets live and how
 * they are selected. A "group" is an absolute folder under the suite's temp root (`sets`,
 * `other`, `large`…): path kinds keep their sets in it, others map its base name to their
 * own grouping (an S3 prefix, a restic tag).
 */
export interface ConformanceHarness {
  kind: string;
  /** What the kind can do: a case it cannot meet is left out of its describe (never skipped). */
  capabilities: ConformanceCapabilities;
  /** Starts what the kind's sets live in (a server, a repository), once per describe; returns its clean-up. */
  setup?(root: string): Promise<() => Promise<void>>;
  /**
   * Makes a set named `name` in `group` from the files under `tree`, dated `time` (its mtime,
   * snapshot time or newest object); returns the set's id as `listSets` reports it.
   */
  makeSet(tree: string, group: string, name: string, time?: Date): Promise<string>;
  /** A name of this kind that the source's selector (the glob or match `set-*`) matches for the set called `name`. */
  setName(name: string): string;
  /** The source over the sets in `group` that `set-*` matches (relative paths resolve from `configDir`). */
  create(group: string, configDir: string): RestoreSource;
  /** The source for a glob `pattern` over local paths (only for kinds with `capabilities.globPaths`). */
  createFromGlob?(pattern: string, configDir: string): RestoreSource;
  /** Makes the set `id` disappear behind the source's back, as a retention job would. */
  vanish(id: string, group: string): Promise<void>;
  /** What the SourceError for the vanished set `id` says (it names the set). */
  vanishedMessage(id: string): string | RegExp;
  /** What the BackupDamagedError for the damaged set `id` says (it names the set). */
  damagedMessage?(id: string): string | RegExp;
  /** Damages the set `id` in place (truncates it); only for kinds with `capabilities.damage`. */
  damage?(id: string, group: string): Promise<void>;
}

export interface ConformanceCapabilities {
  /**
   * Restores a set's files into scratch (hashes, long names, many files, a large file, samples,
   * empty sets). Postgres restores tables into a database: its sets are dumps, made from no tree.
   */
  files: boolean;
  /** Sets are local paths found by a glob: id = absolute path, mtime = the path's, relative globs resolve from the config folder. */
  globPaths: boolean;
  /** Set ids carry the set's name, so `latest` (by name) picks the greatest; restic's ids are random hashes. */
  namedSets: boolean;
  /** Lists items and restores a chosen few; the command source restores whole sets only. */
  sampling: boolean;
  /** A set can hold no files at all; an S3 prefix with no objects does not exist. */
  emptySets: boolean;
  /** A damaged set throws BackupDamagedError; a folder has no format to damage, S3 reports damage as a failed integrity check. */
  damage: boolean;
  /** Files in the "many files" case (MANY_FILES unless a kind's per-file cost makes that slow: one request per object on S3). */
  manyFiles?: number;
}

const log = silentLogger();

/**
 * Files in the "many files" case: well past every batch the sources and the tree hasher
 * make (64 files a copy or tar batch, 32 a hash job with 3 queued a thread, 4 threads), so
 * each restore runs many batches on every thread. Each file made or restored costs about a
 * millisecond of disk here; 5,000 took 4–9 s a kind and proved nothing more.
 */
const MANY_FILES = 1_500;
const LARGE_FILE_BYTES = 50 * 1024 * 1024;

/** A tree made once per test file (tar runs the suite twice) with sha256sum's hash of each file. */
interface HashedTree {
  dir: string;
  expected: Map<string, string>;
}
/** The many-files trees of this file, by file count. */
const manyFilesTrees = oncePerFile(() => new Map<number, Promise<HashedTree>>());

/** `count` small files, some at the top (s3rver lists no prefix whose objects are all two levels down). */
function manyFilesTree(count: number): Promise<HashedTree> {
  const trees = manyFilesTrees();
  let made = trees.get(count);
  if (!made) {
    made = (async () => {
      const dir = await tempDir('restore-drill-many-');
      const files: Record<string, string> = {};
      for (let i = 0; i < count; i++)
        files[`${i % 50 === 0 ? '' : `d${i % 50}/`}file-${i}.txt`] =
          `content of file ${i}\n`.repeat(1 + (i % 7));
      await writeTree(dir, files);
      return { dir, expected: await sha256sumTree(dir) };
    })();
    trees.set(count, made);
  }
  return made;
}

/** One incompressible 50 MB file, `large.bin`. */
const largeTree = oncePerFile(async (): Promise<HashedTree> => {
  const dir = await tempDir('restore-drill-large-');
  await writeLarge(path.join(dir, 'large.bin'), LARGE_FILE_BYTES);
  return { dir, expected: await sha256sumTree(dir) };
});

/**
 * The behaviour every source kind must share (restic's backend test suite, in spirit):
 * listing, selecting, restoring all or some, hashes equal to `sha256sum`'s, prompt aborts,
 * clear errors for vanished sets and damage as damage. Postgres restores tables, not
 * files, so it runs none of this (see postgres-source.test.ts).
 */
export function describeSourceConformance(harness: ConformanceHarness): void {
  const can = harness.capabilities;
  const manyFiles = can.manyFiles ?? MANY_FILES;
  describe(`${harness.kind} source conformance`, () => {
    let root: string;
    let setsDir: string;
    let trees: string;
    let cleanup: (() => Promise<void>) | undefined;
    const setIds = new Map<string, string>();
    const times = [
      ['2026-01-01', new Date('2026-01-01T03:00:00Z')],
      ['2026-01-02', new Date('2026-01-02T03:00:00Z')],
      ['2026-01-03', new Date('2025-12-30T03:00:00Z')],
    ] as const;

    const group = (name: string): string => path.join(root, name);
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
    const source = (): RestoreSource => harness.create(setsDir, root);
    const setOf = async (name: string) => {
      const sets = await source().listSets({});
      const found = sets.find((set) => set.id === setIds.get(name));
      if (!found) throw new Error(`set ${name} not listed`);
      return found;
    };
    /** The set holding one 50 MB file, made once for the large-file and abort cases. */
    let largeSet: Promise<HashedTree> | undefined;
    const makeLargeSet = (): Promise<HashedTree> =>
      (largeSet ??= (async () => {
        const large = await largeTree();
        await harness.makeSet(large.dir, group('large'), harness.setName('large'));
        return large;
      })());
    /** The one set of a group made for a single case. */
    const onlySet = async (where: string) => {
      const one = harness.create(group(where), root);
      const sets = await one.listSets({});
      expect(sets).toHaveLength(1);
      return { one, set: sets[0]! };
    };

    beforeAll(async () => {
      root = await tempDir(`restore-drill-${harness.kind.replace(/[^a-z0-9]+/gi, '-')}-`);
      cleanup = await harness.setup?.(root);
      setsDir = group('sets');
      trees = path.join(root, 'trees');
      await mkdir(setsDir, { recursive: true });
      const basic = await tree('basic', {
        'README.txt': 'hello\n',
        'data/a.csv': 'id,name\n1,ada\n2,grace\n',
        'data/nested/deeper/b.bin': Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251)),
        'data/empty.txt': '',
      });
      for (const [name, time] of times)
        setIds.set(name, await harness.makeSet(basic, setsDir, harness.setName(name), time));
      if (can.files && can.emptySets) {
        const empty = await tree('empty', {});
        setIds.set('empty', await harness.makeSet(empty, group('other'), harness.setName('empty')));
      }
      // Not matched by set-*: must not be listed.
      await harness.makeSet(basic, setsDir, harness.setName('x').replace(/^set-/, 'other-'));
    }, 60_000);

    afterAll(async () => {
      await cleanup?.();
    });

    it('lists every set its selector matches, each with its own time', async () => {
      const sets = await source().listSets({});
      expect(sets.map((set) => set.id).sort()).toEqual(
        times.map(([name]) => setIds.get(name)).sort(),
      );
      for (const [name, time] of times)
        expect(sets.find((set) => set.id === setIds.get(name))?.mtime?.toISOString()).toBe(
          time.toISOString(),
        );
    });

    if (can.globPaths) {
      it('lists sets with their absolute path as id and its own mtime', async () => {
        const sets = await source().listSets({});
        for (const set of sets) {
          expect(set.path).toBe(set.id);
          expect(path.isAbsolute(set.id)).toBe(true);
          expect(set.mtime?.getTime()).toBe((await stat(set.path)).mtime.getTime());
        }
      });

      it('resolves a relative glob from the config folder', async () => {
        const relative = harness.createFromGlob!(
          path.relative(root, path.join(setsDir, 'set-2026-01-0?*')),
          root,
        );
        const sets = await relative.listSets({});
        expect(sets).toHaveLength(3);
        const bracket = harness.createFromGlob!('sets/set-2026-01-0[12]*', root);
        expect((await bracket.listSets({})).map((set) => set.path)).toEqual([
          setIds.get('2026-01-01'),
          setIds.get('2026-01-02'),
        ]);
      });

      it('refuses to list when the glob base folder does not exist', async () => {
        const missing = harness.createFromGlob!(path.join(root, 'no-such-folder', 'set-*'), root);
        await expect(missing.listSets({})).rejects.toThrow(SourceError);
        await expect(missing.listSets({})).rejects.toThrow(
          `${path.join(root, 'no-such-folder')}: no such file or directory`,
        );
      });
    }

    it('lists no sets when nothing matches, and says so when selecting', async () => {
      const none = harness.create(group('nothing-here'), root);
      await mkdir(group('nothing-here'), { recursive: true });
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

    const selecting = {
      now: new Date('2026-01-05T00:00:00Z'),
      random: () => 0.5,
      describe: 'test',
    };
    if (can.namedSets)
      it('hands sets to selectSet: latest by name', async () => {
        const sets = await source().listSets({});
        expect(selectSet(sets, 'latest', selecting).id).toBe(setIds.get('2026-01-03'));
      });

    it('hands sets to selectSet: newest and oldest by time, one by its id', async () => {
      const sets = await source().listSets({});
      const options = selecting;
      expect(selectSet(sets, 'newest', options).id).toBe(setIds.get('2026-01-02'));
      expect(selectSet(sets, 'oldest', options).id).toBe(setIds.get('2026-01-03'));
      expect(selectSet(sets, { id: setIds.get('2026-01-01')! }, options).id).toBe(
        setIds.get('2026-01-01'),
      );
    });

    if (can.files && can.sampling)
      it('lists the regular files of a set with their sizes, relative to the set', async () => {
        const items = await source().listItems(await setOf('2026-01-01'), {});
        expect([...items].sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
          { path: 'README.txt', size: 6 },
          { path: 'data/a.csv', size: 22 },
          { path: 'data/empty.txt', size: 0 },
          { path: 'data/nested/deeper/b.bin', size: 3000 },
        ]);
      });

    if (can.files) describeFileRestores();

    function describeFileRestores(): void {
      it('restores a whole set, each file hashed as sha256sum hashes it', async () => {
        const dir = await scratch();
        const outcome = await source().restore(await setOf('2026-01-02'), dir, {
          items: null,
          log,
        });
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

      if (can.sampling) {
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

        it('restores nothing for an empty sample', async () => {
          const dir = await scratch();
          const outcome = await source().restore(await setOf('2026-01-01'), dir, {
            items: new Set(),
            log,
          });
          expect(outcome).toMatchObject({ files: [], refused: [] });
          expect(await listFiles(dir)).toEqual([]);
        });

        it('refuses a requested item the set does not hold', async () => {
          const dir = await scratch();
          const outcome = await source().restore(await setOf('2026-01-01'), dir, {
            items: new Set(['README.txt', 'data/missing.csv']),
            log,
          });
          expect(outcome.files.map((file) => file.path)).toEqual(['README.txt']);
          expect(outcome.refused).toHaveLength(1);
          expect(outcome.refused[0]?.entry).toMatch(/(^|\/)data\/missing\.csv$/);
          expect(outcome.refused[0]?.reason).toBe('not found in the set');
        });
      }

      if (can.emptySets)
        it('restores an empty set as no files', async () => {
          const empty = harness.create(group('other'), root);
          const [set] = await empty.listSets({});
          expect(set?.id).toBe(setIds.get('empty'));
          if (can.sampling) expect(await empty.listItems(set!, {})).toEqual([]);
          const dir = await scratch();
          expect(await empty.restore(set!, dir, { items: null, log })).toMatchObject({
            files: [],
            refused: [],
          });
        });

      it('restores names longer than 100 characters', async () => {
        const long = `${'very-long-folder-name-'.repeat(4)}/${'a-file-name-well-past-the-ustar-limit-'.repeat(3)}.txt`;
        expect(long.length).toBeGreaterThan(100);
        // A file at the top too: s3rver lists no prefix whose objects are all two levels down.
        const made = await tree('long', { [long]: 'long name\n', 'top.txt': 'top\n' });
        await harness.makeSet(made, group('long'), harness.setName('long'));
        const { one, set } = await onlySet('long');
        if (can.sampling)
          expect((await one.listItems(set, {})).map((item) => item.path).sort()).toEqual([
            'top.txt',
            long,
          ]);
        const dir = await scratch();
        const outcome = await one.restore(set, dir, { items: null, log });
        expect(outcome.files.map((file) => file.path)).toEqual(['top.txt', long]);
        expect(await readFile(path.join(dir, long), 'utf8')).toBe('long name\n');
      });

      it(`restores a set of ${manyFiles.toLocaleString('en')} small files with every hash right`, async () => {
        const { dir: made, expected } = await manyFilesTree(manyFiles);
        expect(expected.size).toBe(manyFiles);
        await harness.makeSet(made, group('many'), harness.setName('many'));
        const { one, set } = await onlySet('many');
        const dir = await scratch();
        const outcome = await one.restore(set, dir, { items: null, log });
        expect(outcome.refused).toEqual([]);
        expect(outcome.files).toHaveLength(manyFiles);
        expect(new Map(outcome.files.map((file) => [file.path, file.sha256]))).toEqual(expected);
        if (can.sampling) expect((await one.listItems(set, {})).length).toBe(manyFiles);
      });

      it('restores a 50 MB file with the hash sha256sum gives', async () => {
        const large = await makeLargeSet();
        const { one, set } = await onlySet('large');
        const target = await scratch();
        const outcome = await one.restore(set, target, { items: null, log });
        const expected = large.expected.get('large.bin');
        expect(outcome.files).toEqual([
          { path: 'large.bin', size: LARGE_FILE_BYTES, sha256: expected },
        ]);
        expect((await run('sha256sum', ['large.bin'], target)).slice(0, 64)).toBe(expected);
        await rm(target, { recursive: true });
      });
    }

    it('stops promptly when the signal aborts mid-restore', async () => {
      await makeLargeSet();
      const { one, set } = await onlySet('large');
      // Against the same restore left to finish, on the same machine at the same load: no fixed bound.
      let started = performance.now();
      const whole = await one.restore(set, await scratch(), { items: null, log });
      const wholeMs = performance.now() - started;
      await whole.dispose?.();
      const controller = new AbortController();
      const reason = new Error('drill timed out');
      started = performance.now();
      setTimeout(() => controller.abort(reason), 20);
      await expect(
        one.restore(set, await scratch(), { items: null, log, signal: controller.signal }),
      ).rejects.toBe(reason);
      expect(performance.now() - started).toBeLessThan(Math.max(1_500, wholeMs * 0.8));
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
      const made = await harness.makeSet(
        path.join(trees, 'basic'),
        group('vanishing'),
        harness.setName('gone'),
      );
      const { one, set } = await onlySet('vanishing');
      expect(set.id).toBe(made);
      await harness.vanish(made, group('vanishing'));
      const restore = one.restore(set, await scratch(), { items: null, log });
      await expect(restore).rejects.toThrow(SourceError);
      await expect(one.restore(set, await scratch(), { items: null, log })).rejects.toThrow(
        harness.vanishedMessage(made),
      );
      if (can.sampling)
        await expect(one.listItems(set, {})).rejects.toThrow(harness.vanishedMessage(made));
    });

    if (can.damage)
      it('fails with BackupDamagedError naming the set when it is damaged', async () => {
        const dir = path.join(trees, 'damaged');
        await mkdir(dir, { recursive: true });
        await writeLarge(path.join(dir, 'damaged.bin'), 2 * 1024 * 1024);
        const made = await harness.makeSet(dir, group('damaged'), harness.setName('damaged'));
        await harness.damage!(made, group('damaged'));
        const { one, set } = await onlySet('damaged');
        const error = await one.restore(set, await scratch(), { items: null, log }).then(
          () => null,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(BackupDamagedError);
        expect((error as BackupDamagedError).message).toMatch(harness.damagedMessage!(made));
        expect((error as BackupDamagedError).message).not.toContain('\n');
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
