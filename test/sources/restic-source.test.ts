import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { drillRequest } from '../helpers/drill-request.js';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import { runDrill } from '../../src/drill/run-drill.js';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { runCommand } from '../../src/exec/run-command.js';
import { redactor } from '../../src/model/redact.js';
import { silentLogger } from '../../src/log/logger.js';
import { createSource } from '../../src/sources/registry.js';
import {
  escapeResticPattern,
  findSnapshotRoot,
  redactRepository,
  resticSourceKind,
} from '../../src/sources/restic-source.js';
import {
  isReadDataSubset,
  resticSourceConfigSchema,
  type ResticSourceConfig,
} from '../../src/sources/restic-source-config.js';
import {
  BackupDamagedError,
  type RestoreOutcome,
  type RestoreSource,
} from '../../src/sources/restore-source.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { selectSet } from '../../src/sources/set-selection.js';
import {
  createResticRepo,
  pseudoRandomBytes,
  TEST_RESTIC_PASSWORD,
  resticEnv,
  writeTree,
  type ResticRepo,
  resticSourceOver,
} from '../helpers/restic-repo.js';
import { createTestDatabase } from '../helpers/test-database.js';

const FAKE_RESTIC = fileURLToPath(new URL('../fixtures/bin/fake-restic', import.meta.url));
const log = silentLogger();

/** The files every snapshot of `src` holds, with names restic's filters would misread unescaped. */
const SOURCE_FILES = {
  'a.txt': 'alpha\n',
  'empty.txt': '',
  'space name.txt': 'spaces\n',
  'we[ird] *?.txt': 'glob characters\n',
  'unicodé/ü.txt': 'unicode\n',
  'nested/deep/big.bin': pseudoRandomBytes(2_600_000, 7),
  'nested/deep/c.txt': 'charlie\n',
};
const SOURCE_LINKS = {
  'link-out': { symlink: '/etc/hostname' },
  'nested/link-in': { symlink: '../a.txt' },
};

function config(
  repo: ResticRepo,
  extra: Partial<Record<keyof ResticSourceConfig, unknown>> = {},
): ResticSourceConfig {
  return resticSourceConfigSchema.parse({
    kind: 'restic',
    repository: repo.repository,
    password: TEST_RESTIC_PASSWORD,
    cacheDir: repo.cacheDir,
    ...extra,
  });
}

function source(
  repo: ResticRepo,
  extra: Partial<Record<keyof ResticSourceConfig, unknown>> = {},
): RestoreSource {
  return resticSourceKind.create(config(repo, extra), { configDir: repo.dir, log });
}

/** A source run by the fake binary; `env` picks its behaviour. */
function fakeSource(
  env: Record<string, string>,
  extra: Record<string, unknown> = {},
): RestoreSource {
  const parsed = resticSourceConfigSchema.parse({
    kind: 'restic',
    repository: '/nonexistent/fake-repo',
    password: TEST_RESTIC_PASSWORD,
    binary: FAKE_RESTIC,
    env,
    ...extra,
  });
  return resticSourceKind.create(parsed, { configDir: os.tmpdir(), log });
}

async function sourceError(promise: Promise<unknown>): Promise<SourceError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SourceError);
  return error as SourceError;
}

let scratchRoot: string;
beforeAll(async () => {
  scratchRoot = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-restic-scratch-'));
});
afterAll(async () => {
  await rm(scratchRoot, { recursive: true, force: true });
});

async function scratch(): Promise<string> {
  return mkdtemp(path.join(scratchRoot, 'run-'));
}

function byPath<T extends { path: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => a.path.localeCompare(b.path));
}

function setOf(sets: BackupSet[], id: string): BackupSet {
  const found = sets.find((set) => set.id === id);
  if (!found) throw new Error(`set ${id} not listed`);
  return found;
}

function check(outcome: RestoreOutcome, name: string) {
  const found = outcome.checks?.find((result) => result.name === name);
  if (!found) throw new Error(`no ${name} check in ${JSON.stringify(outcome.checks)}`);
  return found;
}

describe('restic source against a real repository', () => {
  let repo: ResticRepo;
  let hashes: Map<string, string>;
  let srcDir: string;
  const ids = { absolute: '', relative: '', dot: '', multi: '', single: '', empty: '' };

  beforeAll(async () => {
    repo = await createResticRepo();
    srcDir = path.join(repo.dir, 'src');
    hashes = await writeTree(srcDir, { ...SOURCE_FILES, ...SOURCE_LINKS });
    await writeTree(path.join(repo.dir, 'other'), { 'o.txt': 'other\n' });
    await writeFile(path.join(repo.dir, 'single.txt'), 'a single file\n');
    await mkdir(path.join(repo.dir, 'empty'));
    const short = {
      absolute: await repo.backup([srcDir], {
        tags: ['daily'],
        host: 'alpha',
        time: '2024-01-01 00:00:00',
      }),
      relative: await repo.backup(['src'], {
        cwd: repo.dir,
        tags: ['daily', 'weekly'],
        host: 'beta',
        time: '2024-06-01 00:00:00',
      }),
      dot: await repo.backup(['.'], {
        cwd: srcDir,
        tags: ['dot'],
        host: 'alpha',
        time: '2025-01-01 00:00:00',
      }),
      multi: await repo.backup([path.join(srcDir, 'nested'), path.join(repo.dir, 'other')], {
        tags: ['multi'],
        host: 'gamma',
        time: '2025-02-01 00:00:00',
      }),
      single: await repo.backup([path.join(repo.dir, 'single.txt')], {
        tags: ['single'],
        host: 'delta',
        time: '2023-06-01 00:00:00',
      }),
      empty: await repo.backup([path.join(repo.dir, 'empty')], {
        tags: ['empty'],
        host: 'delta',
        time: '2023-07-01 00:00:00',
      }),
    };
    const full = await repo.fullIds();
    for (const key of Object.keys(short) as (keyof typeof ids)[])
      ids[key] = full.get(short[key]) as string;
  });

  afterAll(async () => {
    await repo?.cleanup();
  });

  test('lists every snapshot with its full id, a password-free path, its time and tree', async () => {
    const sets = await source(repo).listSets({});
    expect(sets.map((set) => set.id).sort()).toEqual(Object.values(ids).sort());
    const absolute = setOf(sets, ids.absolute);
    expect(absolute.path).toBe(`restic:${repo.repository}@${ids.absolute.slice(0, 8)}`);
    expect(absolute.mtime?.toISOString()).toMatch(/^2024-01-01T/);
    expect(absolute.size).toBeNull();
    expect(absolute.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(sets)).not.toContain(TEST_RESTIC_PASSWORD);
  });

  test('filters snapshots by tag (all tags must match), host and path', async () => {
    const ofTags = async (tags: string[]) =>
      (await source(repo, { tags }).listSets({})).map((set) => set.id).sort();
    expect(await ofTags(['daily'])).toEqual([ids.absolute, ids.relative].sort());
    expect(await ofTags(['daily', 'weekly'])).toEqual([ids.relative]);
    expect(await ofTags(['nope'])).toEqual([]);
    const ofHost = (await source(repo, { host: 'alpha' }).listSets({})).map((set) => set.id).sort();
    expect(ofHost).toEqual([ids.absolute, ids.dot].sort());
    const ofPath = (await source(repo, { paths: [path.join(repo.dir, 'other')] }).listSets({})).map(
      (set) => set.id,
    );
    expect(ofPath).toEqual([ids.multi]);
  });

  test('selects latest (the newest snapshot time), oldest, a fixed id and random within a window', async () => {
    const sets = await source(repo).listSets({});
    const pick = (select: unknown, now = new Date()) =>
      selectSet(sets, config(repo, { select }).select, {
        now,
        random: () => 0.99,
        describe: 'restic test',
      }).id;
    expect(pick('latest')).toBe(ids.multi);
    expect(pick('newest')).toBe(ids.multi);
    expect(pick('oldest')).toBe(ids.single);
    expect(pick({ id: ids.relative })).toBe(ids.relative);
    const now = new Date('2025-02-10T00:00:00Z');
    expect([ids.dot, ids.multi]).toContain(pick({ random: { within: '60d' } }, now));
    expect(pick({ random: { within: '10d' } }, now)).toBe(ids.multi);
  });

  test('lists regular files relative to the backed-up folder, whether it was backed up by absolute path, relative path or as .', async () => {
    const expected = Object.keys(SOURCE_FILES).sort();
    const restic = source(repo);
    const sets = await restic.listSets({});
    for (const id of [ids.absolute, ids.relative, ids.dot]) {
      const items = await restic.listItems(setOf(sets, id), {});
      expect(items.map((item) => item.path).sort()).toEqual(expected);
      expect(items.find((item) => item.path === 'nested/deep/big.bin')?.size).toBe(2_600_000);
      expect(items.find((item) => item.path === 'empty.txt')?.size).toBe(0);
    }
  });

  test('keeps the absolute path minus the leading / when a snapshot has several paths, and the name for a single file', async () => {
    const restic = source(repo);
    const sets = await restic.listSets({});
    const multi = (await restic.listItems(setOf(sets, ids.multi), {}))
      .map((item) => item.path)
      .sort();
    const base = repo.dir.slice(1);
    expect(multi).toEqual(
      [
        `${base}/other/o.txt`,
        `${base}/src/nested/deep/big.bin`,
        `${base}/src/nested/deep/c.txt`,
      ].sort(),
    );
    expect((await restic.listItems(setOf(sets, ids.single), {})).map((item) => item.path)).toEqual([
      'single.txt',
    ]);
  });

  test('restores a whole snapshot into scratch at the listed paths, with the hashes of the originals', async () => {
    const restic = source(repo);
    const set = setOf(await restic.listSets({}), ids.absolute);
    const listed = (await restic.listItems(set, {})).map((item) => item.path).sort();
    const dir = await scratch();
    const outcome = await restic.restore(set, dir, { items: null, log });
    expect(byPath(outcome.files).map((file) => file.path)).toEqual(listed);
    for (const file of outcome.files) {
      expect(file.sha256, file.path).toBe(hashes.get(file.path));
      expect((await stat(path.join(dir, file.path))).size).toBe(file.size);
    }
    // Restored where the paths say, with no staging folder or absolute path chain left behind.
    expect((await readdir(dir)).sort()).toEqual([
      'a.txt',
      'empty.txt',
      'link-out',
      'nested',
      'space name.txt',
      'unicodé',
      'we[ird] *?.txt',
    ]);
    expect(check(outcome, 'restic-restore').verdict).toBe('passed');
    expect(
      outcome.commands?.some(
        (command) => command.command.startsWith('restic restore') && command.exitCode === 0,
      ),
    ).toBe(true);
    // The evidence names the restic that restored.
    expect(outcome.commands?.[0]).toMatchObject({
      command: 'restic version',
      exitCode: 0,
      stdoutTail: expect.stringMatching(/^restic 0\.\d+\.\d+/),
    });
    expect(JSON.stringify(outcome.commands)).not.toContain(TEST_RESTIC_PASSWORD);
  });

  test('keeps every symlink restic restored as a link, wherever it points, and never reads through one', async () => {
    const restic = source(repo);
    const set = setOf(await restic.listSets({}), ids.relative);
    const dir = await scratch();
    const outcome = await restic.restore(set, dir, { items: null, log });
    expect(outcome.refused).toEqual([]);
    expect(outcome.links).toEqual([
      { path: 'link-out', target: '/etc/hostname' },
      { path: 'nested/link-in', target: '../a.txt' },
    ]);
    expect(await readlink(path.join(dir, 'link-out'))).toBe('/etc/hostname');
    expect((await lstat(path.join(dir, 'nested/link-in'))).isSymbolicLink()).toBe(true);
    const paths = outcome.files.map((file) => file.path);
    expect(paths).not.toContain('link-out');
    expect(paths).not.toContain('nested/link-in');
  });

  test('restores only the sampled items, names with glob characters included, matching the originals', async () => {
    const restic = source(repo);
    const set = setOf(await restic.listSets({}), ids.relative);
    await restic.listItems(set, {});
    const items = new Set([
      'we[ird] *?.txt',
      'nested/deep/c.txt',
      'unicodé/ü.txt',
      'space name.txt',
    ]);
    const dir = await scratch();
    const outcome = await restic.restore(set, dir, { items, log });
    expect(outcome.files.map((file) => file.path).sort()).toEqual([...items].sort());
    for (const file of outcome.files) expect(file.sha256).toBe(hashes.get(file.path));
    await expect(stat(path.join(dir, 'a.txt'))).rejects.toThrow(/ENOENT/);
    expect(check(outcome, 'restic-restore').verdict).toBe('passed');
    const restore = outcome.commands?.find((command) =>
      command.command.startsWith('restic restore'),
    );
    expect(restore?.command).toContain('--include');
  });

  test('restores sampled items on a fresh source that never listed the snapshot (dot and multi-path snapshots)', async () => {
    for (const [id, item] of [
      [ids.dot, 'nested/deep/c.txt'],
      [ids.multi, `${repo.dir.slice(1)}/other/o.txt`],
    ] as const) {
      const set = setOf(await source(repo).listSets({}), id);
      const dir = await scratch();
      const outcome = await source(repo).restore(set, dir, { items: new Set([item]), log });
      expect(outcome.files.map((file) => file.path)).toEqual([item]);
      expect(await readFile(path.join(dir, item), 'utf8')).toMatch(/charlie|other/);
    }
  });

  test('restores a whole multi-path snapshot at the paths listItems gives', async () => {
    const restic = source(repo);
    const set = setOf(await restic.listSets({}), ids.multi);
    const listed = (await restic.listItems(set, {})).map((item) => item.path).sort();
    const outcome = await source(repo).restore(set, await scratch(), { items: null, log });
    expect(outcome.files.map((file) => file.path).sort()).toEqual(listed);
  });

  test('refuses a requested item the snapshot does not hold, restoring the others', async () => {
    const restic = source(repo);
    const set = setOf(await restic.listSets({}), ids.absolute);
    const outcome = await restic.restore(set, await scratch(), {
      items: new Set(['a.txt', 'nested/missing.csv']),
      log,
    });
    expect(outcome.files.map((file) => file.path)).toEqual(['a.txt']);
    expect(outcome.refused).toEqual([
      { entry: 'nested/missing.csv', reason: 'not found in the set' },
    ]);
  });

  test('lists and restores an empty snapshot as no files', async () => {
    const restic = source(repo);
    const set = setOf(await restic.listSets({}), ids.empty);
    expect(await restic.listItems(set, {})).toEqual([]);
    const dir = await scratch();
    const outcome = await restic.restore(set, dir, { items: null, log });
    expect(outcome).toMatchObject({ files: [], refused: [] });
    expect(check(outcome, 'restic-restore').verdict).toBe('passed');
    expect(await readdir(dir)).toEqual([]);
  });

  test('restores nothing and runs no restic restore for an empty sample', async () => {
    const restic = source(repo);
    const set = setOf(await restic.listSets({}), ids.absolute);
    const outcome = await restic.restore(set, await scratch(), { items: new Set(), log });
    expect(outcome.files).toEqual([]);
    expect(outcome.commands?.some((command) => command.command.startsWith('restic restore'))).toBe(
      false,
    );
  });

  test('splits a large sample into several restic restore commands and restores every item', async () => {
    const many = await createResticRepo();
    try {
      const spec: Record<string, string> = {};
      for (let i = 0; i < 1_100; i++) spec[`d${i % 10}/file-${i}.txt`] = `content ${i}\n`;
      const manyHashes = await writeTree(path.join(many.dir, 'many'), spec);
      await many.backup([path.join(many.dir, 'many')]);
      // One snapshot, so its id is all listSets returns.
      const restic = source(many);
      const [set] = await restic.listSets({});
      const items = await restic.listItems(set as BackupSet, {});
      expect(items).toHaveLength(1_100);
      const sample = new Set(items.slice(0, 1_050).map((item) => item.path));
      const outcome = await restic.restore(set as BackupSet, await scratch(), {
        items: sample,
        log,
      });
      expect(outcome.files).toHaveLength(1_050);
      for (const file of outcome.files) expect(file.sha256).toBe(manyHashes.get(file.path));
      expect(
        outcome.commands?.filter((command) => command.command.startsWith('restic restore')),
      ).toHaveLength(2);
      expect(check(outcome, 'restic-restore').verdict).toBe('passed');
    } finally {
      await many.cleanup();
    }
  });

  test("leaves no lock in the owner's repository when a restore is aborted (restic removes it on SIGINT, not on SIGTERM)", async () => {
    const big = await createResticRepo();
    try {
      await mkdir(path.join(big.dir, 'big'));
      // Big enough that the restore is still running when the test sees its lock.
      const made = await runCommand('dd', [
        'if=/dev/urandom',
        `of=${path.join(big.dir, 'big', 'data.bin')}`,
        'bs=1M',
        'count=300',
        'status=none',
      ]);
      expect(made.exitCode, made.stderrTail).toBe(0);
      await big.backup([path.join(big.dir, 'big')]);
      const restic = source(big);
      const [set] = await restic.listSets({});
      const controller = new AbortController();
      const reason = new Error('drill timed out');
      const target = await scratch();
      const restore = restic.restore(set as BackupSet, target, {
        items: null,
        log,
        signal: controller.signal,
      });
      restore.catch(() => undefined);
      // Abort once restic restore is writing (bounded poll: restic tells nobody). Its lock is
      // in the repository by then; a restic stopped before it registered the lock for clean-up
      // leaves it behind on any signal.
      const writing = async () => (await readdir(target, { recursive: true })).length > 0;
      for (let tries = 0; tries < 2_000 && !(await writing()); tries++) await sleep(5);
      expect(await readdir(path.join(big.repository, 'locks'))).toHaveLength(1);
      controller.abort(reason);
      await expect(restore).rejects.toBe(reason);
      expect(await readdir(path.join(big.repository, 'locks'))).toEqual([]);
    } finally {
      await big.cleanup();
    }
  });

  test("runs restic check --read-data-subset and records it as the passing source check 'restic-check'", async () => {
    const restic = source(repo, { check: { readDataSubset: '100%' } });
    const set = setOf(await restic.listSets({}), ids.single);
    const outcome = await restic.restore(set, await scratch(), { items: null, log });
    const result = check(outcome, 'restic-check');
    expect(result.verdict).toBe('passed');
    expect(result.expected).toEqual({ exitCode: 0, readDataSubset: '100%' });
    expect(
      outcome.commands?.some((command) => command.command.includes('--read-data-subset=100%')),
    ).toBe(true);
  });

  test('reads the password from passwordFile, relative to the config folder', async () => {
    await writeFile(path.join(repo.dir, 'password.txt'), `${TEST_RESTIC_PASSWORD}\n`);
    const restic = resticSourceKind.create(
      resticSourceConfigSchema.parse({
        kind: 'restic',
        repository: 'repo',
        passwordFile: 'password.txt',
        cacheDir: 'cache',
      }),
      { configDir: repo.dir, log },
    );
    expect(await restic.listSets({})).toHaveLength(6);
  });

  test('fails with a one-line cause naming the repository for a wrong password', async () => {
    const error = await sourceError(source(repo, { password: 'not-the-password' }).listSets({}));
    expect(error.message).toBe(
      `restic repository ${repo.repository}: wrong password or no key found`,
    );
    expect(error.transient).toBe(false);
  });

  test('a repository on a read-only mount is an error naming the lock restic cannot write, at its first retry', async () => {
    const mountPoint = path.join(repo.dir, 'read-only');
    await mkdir(mountPoint);
    const mounted = async (args: string[]): Promise<void> => {
      const result = await runCommand('mount', args, { timeoutMs: 30_000 });
      expect(result.exitCode, result.stderrTail).toBe(0);
    };
    await mounted(['--bind', repo.repository, mountPoint]);
    try {
      await mounted(['-o', 'remount,bind,ro', mountPoint]);
      const readOnly = resticSourceKind.create(config(repo, { repository: mountPoint }), {
        configDir: repo.dir,
        log,
      });
      const error = await sourceError(readOnly.listSets({}));
      expect(error.causeCode).toBe('source.failed');
      expect(error.message).toBe(
        `restic repository ${mountPoint} cannot be read: restic must write a lock in its locks/ folder and got 'read-only file system'; give the drill's user write access to locks/`,
      );
    } finally {
      await runCommand('umount', [mountPoint], { timeoutMs: 30_000 });
    }
    // Stopped at restic's first retry, ~0.5 s in: restic alone retries for about 45 s.
  }, 20_000);

  test('fails naming the password file when it cannot be read', async () => {
    const restic = resticSourceKind.create(
      resticSourceConfigSchema.parse({
        kind: 'restic',
        repository: repo.repository,
        passwordFile: 'missing-password.txt',
      }),
      { configDir: repo.dir, log },
    );
    const error = await sourceError(restic.listSets({}));
    expect(error.message).toContain(
      `restic repository ${repo.repository}: cannot read password file ${path.join(repo.dir, 'missing-password.txt')}`,
    );
  });

  test('fails saying the repository does not exist for a folder without one', async () => {
    const missing = path.join(repo.dir, 'no-repo-here');
    const error = await sourceError(source(repo, { repository: missing }).listSets({}));
    expect(error.message).toBe(`restic repository ${missing} does not exist`);
  });

  test('fails naming the binary when restic cannot be found', async () => {
    const error = await sourceError(
      source(repo, { binary: '/nonexistent/bin/restic' }).listSets({}),
    );
    expect(error.message).toBe('restic binary not found: /nonexistent/bin/restic');
  });

  test('fails naming the snapshot when it was forgotten between listing and listing its items', async () => {
    const restic = source(repo);
    const set = { ...setOf(await restic.listSets({}), ids.single), id: '0'.repeat(64) };
    const error = await sourceError(restic.listItems(set, {}));
    expect(error.message).toBe(
      `restic snapshot ${'0'.repeat(64)} not found in repository ${repo.repository}`,
    );
    const restoreError = await sourceError(
      source(repo).restore(set, await scratch(), { items: null, log }),
    );
    expect(restoreError.message).toMatch(/^restic (restore|snapshots).*not found in repository/);
    // The commands restic ran up to the failure stay with it (the run's record keeps them).
    const failed = restoreError.commands.at(-1);
    expect(failed?.command).toMatch(/^restic (restore|snapshots) /);
    expect(failed?.exitCode).not.toBe(0);
    expect(failed?.stderrTail).toMatch(/no matching ID found|not found/i);
    expect(JSON.stringify(restoreError.commands)).not.toContain(TEST_RESTIC_PASSWORD);
  });
});

describe('restic source over a damaged repository', () => {
  let repo: ResticRepo;
  let damaged: string;
  let snapshot: string;
  let originals: Map<string, string>;

  beforeAll(async () => {
    repo = await createResticRepo();
    const data = path.join(repo.dir, 'data');
    originals = await writeTree(data, {
      'small.txt': 'small\n',
      'big.bin': pseudoRandomBytes(3_000_000, 11),
    });
    const short = await repo.backup([data]);
    snapshot = (await repo.fullIds()).get(short) as string;
    damaged = path.join(repo.dir, 'damaged-repo');
    await cp(repo.repository, damaged, { recursive: true });
    // The largest pack holds big.bin's blobs; flip bytes in its middle.
    const packs: { file: string; size: number }[] = [];
    for (const sub of await readdir(path.join(damaged, 'data'))) {
      for (const name of await readdir(path.join(damaged, 'data', sub))) {
        const file = path.join(damaged, 'data', sub, name);
        packs.push({ file, size: (await stat(file)).size });
      }
    }
    const largest = packs.sort((a, b) => b.size - a.size)[0] as { file: string; size: number };
    const handle = await open(largest.file, 'r+');
    try {
      const offset = Math.floor(largest.size / 2);
      const bytes = Buffer.alloc(16);
      await handle.read(bytes, 0, 16, offset);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (bytes[i] as number) ^ 0xff;
      await handle.write(bytes, 0, 16, offset);
    } finally {
      await handle.close();
    }
  });

  afterAll(async () => {
    await repo?.cleanup();
  });

  function damagedSource(extra: Record<string, unknown> = {}): RestoreSource {
    return resticSourceKind.create(
      resticSourceConfigSchema.parse({
        kind: 'restic',
        repository: damaged,
        password: TEST_RESTIC_PASSWORD,
        cacheDir: path.join(repo.dir, 'damaged-cache'),
        ...extra,
      }),
      { configDir: repo.dir, log },
    );
  }

  test("restic check --read-data fails as the source check 'restic-check', with the output's errors as findings", async () => {
    const restic = damagedSource({ check: { readDataSubset: '100%' } });
    const set = setOf(await restic.listSets({}), snapshot);
    const outcome = await restic.restore(set, await scratch(), {
      items: new Set(['small.txt']),
      log,
    });
    const result = check(outcome, 'restic-check');
    expect(result.verdict).toBe('failed');
    expect(result.detail).toMatch(/^restic check --read-data-subset=100% failed: exit code 1/);
    expect(result.findings?.length).toBeGreaterThan(0);
    expect(JSON.stringify(result.findings)).toMatch(/does not match|ciphertext|errors/i);
    expect((result.actual as { exitCode: number }).exitCode).toBe(1);
  });

  test("a tree damaged in the repository fails the restore even while restic's cache holds an intact copy", async () => {
    // A copy of the repository (same id) whose tree packs the source's cache already holds.
    const treeDamaged = path.join(repo.dir, 'tree-damaged-repo');
    await cp(repo.repository, treeDamaged, { recursive: true });
    const cacheDir = path.join(repo.dir, 'tree-damaged-cache');
    const restic = resticSourceKind.create(
      resticSourceConfigSchema.parse({
        kind: 'restic',
        repository: treeDamaged,
        password: TEST_RESTIC_PASSWORD,
        cacheDir,
      }),
      { configDir: repo.dir, log },
    );
    const set = setOf(await restic.listSets({}), snapshot);
    // The backup host's cache is warm: its backups and listings loaded the trees.
    const listing = await runCommand('restic', ['ls', snapshot], {
      env: resticEnv(treeDamaged, cacheDir),
    });
    expect(listing.exitCode, listing.stderrTail).toBe(0);
    const cachedPacks: string[] = [];
    for (const id of await readdir(cacheDir))
      for (const sub of await readdir(path.join(cacheDir, id, 'data')).catch(() => []))
        cachedPacks.push(...(await readdir(path.join(cacheDir, id, 'data', sub))));
    expect(cachedPacks.length).toBeGreaterThan(0);
    for (const pack of cachedPacks) {
      const file = path.join(treeDamaged, 'data', pack.slice(0, 2), pack);
      const bytes = await readFile(file);
      for (let i = 40; i < 56 && i < bytes.length; i++) bytes[i] = (bytes[i] as number) ^ 0xff;
      await writeFile(file, bytes);
    }

    const outcome = await restic.restore(set, await scratch(), { items: null, log }).then(
      (restored) => ({ restored, error: null }),
      (error: unknown) => ({ restored: null, error }),
    );
    if (outcome.error !== null) {
      expect(outcome.error).toBeInstanceOf(SourceError);
      expect(String(outcome.error)).toMatch(/ciphertext|tree|load/i);
    } else {
      expect(check(outcome.restored!, 'restic-restore').verdict).toBe('failed');
      expect(outcome.restored!.damage?.detail).toMatch(/ciphertext|tree|load/i);
    }
  });

  test('a pack missing from the repository fails the restore at once, naming the pack, where restic would retry it for minutes', async () => {
    const packless = path.join(repo.dir, 'packless-repo');
    await cp(repo.repository, packless, { recursive: true });
    const packs: { file: string; size: number }[] = [];
    for (const sub of await readdir(path.join(packless, 'data')))
      for (const name of await readdir(path.join(packless, 'data', sub))) {
        const file = path.join(packless, 'data', sub, name);
        packs.push({ file, size: (await stat(file)).size });
      }
    const largest = packs.sort((a, b) => b.size - a.size)[0] as { file: string; size: number };
    await rm(largest.file);
    const restic = resticOn(packless, path.join(repo.dir, 'packless-cache'));
    const set = setOf(await restic.listSets({}), snapshot);
    const error = await restic.restore(set, await scratch(), { items: null, log }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BackupDamagedError);
    const damaged = error as BackupDamagedError;
    expect(damaged.message).toContain(`pack ${path.basename(largest.file)}: does not exist`);
    expect(damaged.damage.detail).toContain(path.basename(largest.file));
    // The evidence keeps the check that found it, started at restic's first retry, and the
    // restore it stopped (restic 0.14 would retry the pack for about 90 s, beyond this test's timeout).
    const commands = damaged.partial.commands ?? [];
    expect(commands.map((command) => command.command.split(' ').slice(0, 2).join(' '))).toEqual([
      'restic version',
      'restic snapshots',
      'restic check',
      'restic restore',
    ]);
    expect(commands[3]?.canceled || commands[3]?.exitCode !== 0).toBe(true);
    expect(damaged.partial.files).toEqual([]);
  });

  /** The source over `repository` (a damaged copy) with its own restic cache. */
  function resticOn(repository: string, cacheDir: string): RestoreSource {
    return resticSourceOver(repository, cacheDir, { configDir: repo.dir, log });
  }

  /**
   * A copy of the test repository at `copy`, and the packs of it that hold trees: restic
   * caches only tree packs, so a listing through `cacheDir` leaves exactly those there.
   */
  async function copyWithTreePacks(copy: string, cacheDir: string): Promise<string[]> {
    await cp(repo.repository, copy, { recursive: true });
    const listing = await runCommand('restic', ['ls', snapshot], {
      env: resticEnv(copy, cacheDir),
    });
    expect(listing.exitCode, listing.stderrTail).toBe(0);
    const packs: string[] = [];
    for (const id of await readdir(cacheDir))
      for (const sub of await readdir(path.join(cacheDir, id, 'data')).catch(() => []))
        packs.push(...(await readdir(path.join(cacheDir, id, 'data', sub))));
    expect(packs.length).toBeGreaterThan(0);
    return packs;
  }

  test("a tree pack missing from the repository fails the drill even while restic's cache still holds it", async () => {
    // With the cache, restic restore would succeed here; a host without it (the disaster) could not.
    // The restore reads the repository itself (--no-cache), so the missing pack surfaces.
    const treeless = path.join(repo.dir, 'treeless-repo');
    const cacheDir = path.join(repo.dir, 'treeless-cache');
    const cachedPacks = await copyWithTreePacks(treeless, cacheDir);
    for (const pack of cachedPacks) await rm(path.join(treeless, 'data', pack.slice(0, 2), pack));
    const restic = resticSourceKind.create(
      resticSourceConfigSchema.parse({
        kind: 'restic',
        repository: treeless,
        password: TEST_RESTIC_PASSWORD,
        cacheDir,
      }),
      { configDir: repo.dir, log },
    );
    const set = setOf(await restic.listSets({}), snapshot);
    const error = await restic.restore(set, await scratch(), { items: null, log }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).message).toContain(
      `pack ${cachedPacks[0] as string}: does not exist`,
    );
  });

  test('a tree pack cut short fails the size check before the restore as damage at once, not as an error after restic retries', async () => {
    // restic stats walks the trees first: with no cache to fall back on it cannot read them back.
    const cut = path.join(repo.dir, 'cut-tree-repo');
    const treePacks = await copyWithTreePacks(cut, path.join(repo.dir, 'cut-tree-probe-cache'));
    for (const pack of treePacks) {
      const file = path.join(cut, 'data', pack.slice(0, 2), pack);
      await truncate(file, Math.floor((await stat(file)).size / 2));
    }
    const restic = resticOn(cut, path.join(repo.dir, 'cut-tree-empty-cache'));
    const set = setOf(await restic.listSets({}), snapshot);
    const error = await restic.restoredSize!(set, {}).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(BackupDamagedError);
    expect((error as BackupDamagedError).message).toContain(
      `is missing data of its index, so snapshot ${snapshot.slice(0, 8)} cannot be restored: pack ${treePacks.sort()[0] as string}`,
    );
  });

  test('a restore of the damaged file fails the restic-restore check naming that file, so the drill cannot pass', async () => {
    const restic = damagedSource();
    const set = setOf(await restic.listSets({}), snapshot);
    const dir = await scratch();
    const outcome = await restic.restore(set, dir, { items: null, log });
    const result = check(outcome, 'restic-restore');
    expect(result.verdict).toBe('failed');
    expect(result.findings?.map((finding) => finding.item)).toContain('big.bin');
    // Whatever restic left on disk for it, a file it could not read back is not counted as restored.
    expect(outcome.files.map((file) => file.path)).toEqual(['small.txt']);
    // The damage names the file and what restic said about its data, so the drill is `restore.damaged`.
    expect(outcome.damage).toEqual({
      detail: expect.stringMatching(/ciphertext verification failed/) as unknown,
      entry: 'big.bin',
      offset: null,
    });
    // The undamaged file still came back intact.
    expect(outcome.files.find((file) => file.path === 'small.txt')?.sha256).toBe(
      originals.get('small.txt'),
    );
  });
});

describe('restic source in a drill (runDrill with a manifest)', () => {
  let repo: ResticRepo;
  let store: EvidenceStore;
  let loaded: LoadedConfig;
  let resticTmp: string;

  beforeAll(async () => {
    repo = await createResticRepo();
    const app = path.join(repo.dir, 'app');
    const files = {
      'docs/a.txt': 'alpha\n',
      'docs/b.txt': 'bravo '.repeat(500),
      'mail/c.eml': 'charlie\n'.repeat(100),
    };
    await writeTree(app, files);
    // The manifest is written at backup time by the real sha256sum, and travels inside the snapshot.
    const sums = await runCommand('sha256sum', Object.keys(files).sort(), {
      cwd: app,
      keepStdout: true,
    });
    await writeFile(path.join(app, 'SHA256SUMS'), `${sums.stdout}\n`);
    await repo.backup([app], { tags: ['good'] });
    const changed = path.join(app, 'docs/b.txt');
    const bytes = await readFile(changed);
    bytes[100] = (bytes[100] as number) ^ 0x01;
    await writeFile(changed, bytes);
    await repo.backup([app], { tags: ['changed'] });

    // restic's own temp folder, to see what it leaves there.
    resticTmp = path.join(repo.dir, 'restic-tmp');
    await mkdir(resticTmp);
    const dbUrl = await createTestDatabase();
    const source = (tag: string) =>
      `{ kind: restic, repository: repo, password: '\${env:RD_TEST_RESTIC_PASSWORD}', cacheDir: cache, tags: [${tag}], check: { readDataSubset: '100%' } }`;
    const configText = `database:
  url: \${env:RD_TEST_DB_URL}
scratch:
  root: scratch
drills:
  - name: restic-good
    source: ${source('good')}
    checks:
      manifest: { format: sha256sum, path: SHA256SUMS }
      extraFiles: fail
      files: { exact: 3 }
  - name: restic-sampled
    source: ${source('good')}
    sample: { size: 2 }
    checks:
      manifest: { format: sha256sum, path: SHA256SUMS }
  - name: restic-changed
    source: ${source('changed')}
    checks:
      manifest: { format: sha256sum, path: SHA256SUMS }
  - name: restic-own-tmpdir
    source: { kind: restic, repository: repo, password: '\${env:RD_TEST_RESTIC_PASSWORD}', cacheDir: cache, tags: [good], env: { TMPDIR: ${resticTmp} }, check: { readDataSubset: '100%' } }
`;
    loaded = parseConfig(
      configText,
      path.join(repo.dir, 'restore-drill.yaml'),
      { RD_TEST_DB_URL: dbUrl, RD_TEST_RESTIC_PASSWORD: TEST_RESTIC_PASSWORD },
      repo.dir,
    );
    store = await openEvidenceStore({
      url: dbUrl,
      embeddedDir: path.join(repo.dir, '.restore-drill'),
      log,
    });
  });

  afterAll(async () => {
    await store?.close();
    await repo?.cleanup();
  });

  async function drill(name: string): Promise<RunRecord> {
    const result = await runDrill(drillRequest(loaded, name, store.db));
    if (result.status !== 'finished') throw new Error(`drill ${name}: ${result.status}`);
    return result.record;
  }

  test('passes a drill whose restored snapshot matches the manifest, with restic check and restic commands as evidence', async () => {
    const record = await drill('restic-good');
    expect(record.cause).toBeNull();
    expect(record.verdict).toBe('passed');
    expect(record.sourceKind).toBe('restic');
    expect(record.set?.path).toMatch(new RegExp(`^restic:${repo.repository}@[0-9a-f]{8}$`));
    expect(record.checks.map((result) => [result.name, result.verdict])).toEqual(
      expect.arrayContaining([
        ['manifest', 'passed'],
        ['restic-restore', 'passed'],
        ['restic-check', 'passed'],
      ]),
    );
    expect(
      record.commands.map((command) => command.command.split(' ').slice(0, 2).join(' ')),
    ).toEqual(
      expect.arrayContaining([
        'restic version',
        'restic snapshots',
        'restic restore',
        'restic check',
      ]),
    );
    expect(JSON.stringify(record)).not.toContain(TEST_RESTIC_PASSWORD);
  });

  test('passes a sampled drill: restic restores the sample and the manifest through --include', async () => {
    const record = await drill('restic-sampled');
    expect(record.cause).toBeNull();
    expect(record.verdict).toBe('passed');
    expect(record.sample?.selectedItems).toBe(2);
    expect(record.restored.files).toBe(3);
    expect(record.commands.some((command) => command.command.startsWith('restic ls --json'))).toBe(
      true,
    );
  });

  test("leaves nothing in restic's temp folder: restic check runs without a cache", async () => {
    const record = await drill('restic-own-tmpdir');
    expect(record.verdict).toBe('passed');
    expect(await readdir(resticTmp)).toEqual([]);
    // With a cacheDir, restic check would put its temporary cache there instead.
    const cached = await readdir(path.join(repo.dir, 'cache'));
    expect(cached.filter((name) => name.startsWith('restic-check-cache-'))).toEqual([]);
    // A restore restic never had to retry runs no pack check.
    expect(
      record.commands
        .map((command) => command.command)
        .filter((command) => command.startsWith('restic check')),
    ).toEqual(['restic check --read-data-subset=100% --no-cache']);
  });

  test('fails a drill whose snapshot holds a changed file, naming the file', async () => {
    const record = await drill('restic-changed');
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(/^check\.failed: manifest: .*docs\/b\.txt/);
    const manifest = record.checks.find((result) => result.name === 'manifest');
    expect(manifest?.findings?.map((finding) => finding.item)).toEqual(['docs/b.txt']);
  });
});

describe('restic source failure modes (fake restic binary)', () => {
  test('kills a hanging restic and its children at the timeout', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-fake-restic-'));
    try {
      const pidFile = path.join(dir, 'child.pid');
      const restic = fakeSource(
        { FAKE_RESTIC_MODE: 'hang', FAKE_RESTIC_PIDFILE: pidFile },
        { timeout: '1s' },
      );
      const started = Date.now();
      const error = await sourceError(restic.listSets({}));
      expect(error.message).toMatch(/^restic snapshots timed out after 1\.\d+s$/);
      expect(Date.now() - started).toBeLessThan(15_000);
      const childPid = Number(await readFile(pidFile, 'utf8'));
      await waitUntil(() => !alive(childPid));
      expect(alive(childPid)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('stops restic when the drill is aborted', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-fake-restic-'));
    try {
      const pidFile = path.join(dir, 'child.pid');
      const controller = new AbortController();
      const restic = fakeSource({ FAKE_RESTIC_MODE: 'hang', FAKE_RESTIC_PIDFILE: pidFile });
      const listing = restic.listSets({ signal: controller.signal }).then(
        () => undefined,
        (error: unknown) => error,
      );
      // Abort once `restic snapshots` is surely running.
      await waitUntil(() => existsSync(pidFile), 20_000);
      const reason = new Error('drill timed out');
      controller.abort(reason);
      expect(await listing).toBe(reason);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('does not start restic when the signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const restic = fakeSource({ FAKE_RESTIC_MODE: 'hang' });
    await expect(restic.listSets({ signal: controller.signal })).rejects.toThrow(/abort/i);
    await expect(
      restic.restore(
        { id: 'b'.repeat(64), path: 'x', size: null, mtime: null, hash: null },
        os.tmpdir(),
        { items: null, log, signal: controller.signal },
      ),
    ).rejects.toThrow(/abort/i);
  });

  test('checks the packs when restic retries a read, and keeps the restore when none is missing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-fake-restic-'));
    try {
      const restic = fakeSource({ FAKE_RESTIC_MODE: 'retry-restore', FAKE_RESTIC_DIR: dir });
      const [set] = await restic.listSets({});
      const outcome = await restic.restore(set as BackupSet, await scratch(), { items: null, log });
      expect(outcome.damage).toBeUndefined();
      expect(check(outcome, 'restic-restore').verdict).toBe('passed');
      expect(outcome.files).toEqual([
        {
          path: 'a.txt',
          size: 9,
          sha256: createHash('sha256').update('restored\n').digest('hex'),
        },
      ]);
      const verbs = (outcome.commands ?? []).map(
        (command) => / (version|snapshots|check|restore) /.exec(`${command.command} `)?.[1],
      );
      expect(verbs.sort()).toEqual(['check', 'restore', 'snapshots', 'version']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('stops a retrying restore when the pack check it started cannot open the repository', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'restore-drill-fake-restic-'));
    try {
      const pidFile = path.join(dir, 'restore.pid');
      const restic = fakeSource({
        FAKE_RESTIC_MODE: 'retry-restore',
        FAKE_RESTIC_CHECK: 'wrong-password',
        FAKE_RESTIC_DIR: dir,
        FAKE_RESTIC_PIDFILE: pidFile,
      });
      const [set] = await restic.listSets({});
      const error = await sourceError(
        restic.restore(set as BackupSet, await scratch(), { items: null, log }),
      );
      expect(error.message).toBe(
        'restic repository /nonexistent/fake-repo: wrong password or no key found',
      );
      expect(error.causeCode).toBe('source.auth');
      const restore = error.commands.find((command) => / restore /.test(command.command));
      expect(restore?.canceled).toBe(true);
      const pid = Number(await readFile(pidFile, 'utf8'));
      await waitUntil(() => !alive(pid));
      expect(alive(pid)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('treats an unknown exit code as a failure with the last line of stderr', async () => {
    const error = await sourceError(
      fakeSource({
        FAKE_RESTIC_MODE: 'exit',
        FAKE_RESTIC_CODE: '42',
        FAKE_RESTIC_STDERR: 'Fatal: the moon is in the wrong phase',
      }).listSets({}),
    );
    expect(error.message).toBe(
      'restic snapshots failed (exit code 42): the moon is in the wrong phase',
    );
    expect(error.transient).toBe(false);
  });

  test("maps restic ≥ 0.17's documented exit codes: 10 no repository, 11 locked (transient), 12 wrong password", async () => {
    const byCode = async (code: string) =>
      sourceError(
        fakeSource({
          FAKE_RESTIC_MODE: 'exit',
          FAKE_RESTIC_CODE: code,
          FAKE_RESTIC_STDERR: 'Fatal: nope',
        }).listSets({}),
      );
    expect((await byCode('10')).message).toBe(
      'restic repository /nonexistent/fake-repo does not exist',
    );
    const locked = await byCode('11');
    expect(locked.message).toBe('restic repository /nonexistent/fake-repo is locked: nope');
    expect(locked.transient).toBe(true);
    expect((await byCode('12')).message).toBe(
      'restic repository /nonexistent/fake-repo: wrong password or no key found',
    );
  });

  test("recognises restic 0.14's lock failure by its message and calls it transient", async () => {
    const error = await sourceError(
      fakeSource({
        FAKE_RESTIC_MODE: 'exit',
        FAKE_RESTIC_CODE: '1',
        FAKE_RESTIC_STDERR:
          'Fatal: unable to create lock in backend: repository is already locked exclusively by PID 42 on host',
      }).listSets({}),
    );
    expect(error.message).toMatch(
      /^restic repository \/nonexistent\/fake-repo is locked: unable to create lock/,
    );
    expect(error.transient).toBe(true);
  });

  test('says a remote repository cannot be reached (transient) rather than missing when the network fails', async () => {
    const error = await sourceError(
      fakeSource({
        FAKE_RESTIC_MODE: 'exit',
        FAKE_RESTIC_STDERR:
          'Fatal: unable to open config file: Stat: Get "http://127.0.0.1:1/bucket/?location=": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\ns3:http://127.0.0.1:1/bucket',
      }).listSets({}),
    );
    expect(error.message).toMatch(
      /^restic repository \/nonexistent\/fake-repo cannot be reached: unable to open config file: .*connection refused$/,
    );
    expect(error.transient).toBe(true);
  });

  test("fails with 'restic snapshots: unexpected output' for output that is not JSON or not snapshots", async () => {
    expect(
      (await sourceError(fakeSource({ FAKE_RESTIC_MODE: 'garbage' }).listSets({}))).message,
    ).toBe('restic snapshots: unexpected output: this is not json');
    expect(
      (await sourceError(fakeSource({ FAKE_RESTIC_MODE: 'wrong-shape' }).listSets({}))).message,
    ).toMatch(/^restic snapshots: unexpected output: 0\.id: /);
  });

  test("fails with 'restic ls: unexpected output' for a listing line that is not JSON", async () => {
    const restic = fakeSource({ FAKE_RESTIC_MODE: 'ls-garbage' });
    const [set] = await restic.listSets({});
    const error = await sourceError(restic.listItems(set as BackupSet, {}));
    expect(error.message).toMatch(/^restic ls: unexpected output: \{"struct_type":"node"/);
  });

  test('fails naming the snapshot when restic ls exits 0 without listing it', async () => {
    const restic = fakeSource({ FAKE_RESTIC_MODE: 'ls-unknown-snapshot' });
    const [set] = await restic.listSets({});
    const error = await sourceError(restic.listItems(set as BackupSet, {}));
    expect(error.message).toBe(
      `restic snapshot ${'b'.repeat(64)} not found in repository /nonexistent/fake-repo`,
    );
  });

  test('refuses a restic older than 0.14, naming its version', async () => {
    const error = await sourceError(fakeSource({ FAKE_RESTIC_MODE: 'old-version' }).listSets({}));
    expect(error.message).toBe(
      `restic 0.9.6 at ${FAKE_RESTIC} is too old; restore-drill needs restic 0.14 or newer`,
    );
  });

  test('masks credentials of a repository URL in messages, even where restic echoes the location', async () => {
    const repository = 's3:https://AKIAEXAMPLE:s3cr3t-key-value@objects.example.com/backups';
    expect(redactRepository(repository)).toBe('s3:https://***@objects.example.com/backups');
    const restic = fakeSource({ FAKE_RESTIC_MODE: 'echo-repository' }, { repository });
    const error = await sourceError(restic.listSets({}));
    expect(error.message).toBe(
      'restic repository s3:https://***@objects.example.com/backups does not exist',
    );
    expect(redactor.redact(`echoed: ${repository}`)).not.toContain('s3cr3t-key-value');
  });
});

describe('restic source config', () => {
  const base = { kind: 'restic', repository: '/srv/restic', password: 'pw-from-env' };

  test("turns 'latest' into the newest snapshot and defaults the timeout to 6h", () => {
    const parsed = resticSourceConfigSchema.parse(base);
    expect(parsed.select).toBe('newest');
    expect(parsed.timeout).toBe(6 * 3_600_000);
    expect(parsed.binary).toBe('restic');
  });

  test('requires exactly one of password and passwordFile', () => {
    const both = resticSourceConfigSchema.safeParse({ ...base, passwordFile: '/etc/restic/pw' });
    expect(both.error?.issues[0]?.message).toBe('expected only one of password and passwordFile');
    const neither = resticSourceConfigSchema.safeParse({
      kind: 'restic',
      repository: '/srv/restic',
    });
    expect(neither.error?.issues[0]?.message).toBe('missing; expected password or passwordFile');
  });

  test('refuses a password or repository routed through env, and unknown keys', () => {
    const routed = resticSourceConfigSchema.safeParse({
      ...base,
      env: { RESTIC_PASSWORD: 'x', AWS_ACCESS_KEY_ID: 'y' },
    });
    expect(routed.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      'env.RESTIC_PASSWORD',
    ]);
    expect(resticSourceConfigSchema.safeParse({ ...base, pasword: 'typo' }).success).toBe(false);
  });

  test('accepts the read-data-subset forms restic 0.14 takes and refuses the others', () => {
    for (const good of ['5%', '2.5%', '100%', '1/10', '10/10', '500M', '2G'])
      expect(isReadDataSubset(good), good).toBe(true);
    for (const bad of ['0%', '101%', '0/10', '11/10', 'all', '5', ''])
      expect(isReadDataSubset(bad), bad).toBe(false);
    const parsed = resticSourceConfigSchema.safeParse({
      ...base,
      check: { readDataSubset: 'lots' },
    });
    expect(parsed.error?.issues[0]?.message).toMatch(/expected a percentage like '5%'/);
  });

  test('asks for the full snapshot id when select names a short one', () => {
    const parsed = resticSourceConfigSchema.safeParse({ ...base, select: { id: '3b76be8b' } });
    expect(parsed.error?.issues[0]?.message).toMatch(/full 64-character snapshot id/);
  });

  test('reports a config error with its line, and resolves the password from the environment', () => {
    const yaml = (source: string) => `drills:\n  - name: files\n    source:\n${source}`;
    const loaded = parseConfig(
      yaml(
        '      kind: restic\n      repository: /srv/restic\n      password: ${env:RD_TEST_RESTIC_PW}\n',
      ),
      'drill.yaml',
      {
        RD_TEST_RESTIC_PW: 'pw-4-redaction',
      },
    );
    const drillSource = loaded.config.drills[0]?.source as ResticSourceConfig;
    expect(drillSource.password).toBe('pw-4-redaction');
    expect(redactor.redact('pw-4-redaction')).toBe('${env:RD_TEST_RESTIC_PW}');
    expect(() =>
      parseConfig(
        yaml(
          '      kind: restic\n      repository: /srv/restic\n      password: x1234\n      passwordFile: /etc/pw\n',
        ),
        'drill.yaml',
        {},
      ),
    ).toThrow(
      'drill.yaml:7 drills[0].source.passwordFile: expected only one of password and passwordFile',
    );
    // The registry knows the kind.
    expect(createSource(drillSource, { configDir: '/tmp', log }).kind).toBe('restic');
  });

  test('gives the local repository folder to the scratch guard, and nothing for a remote one', () => {
    const local = resticSourceConfigSchema.parse({ ...base, repository: 'backups/repo' });
    expect(resticSourceKind.localPaths?.(local, { configDir: '/etc/drills' })).toEqual([
      '/etc/drills/backups/repo',
    ]);
    const remote = resticSourceConfigSchema.parse({
      ...base,
      repository: 's3:https://s3.example.com/bucket',
    });
    expect(resticSourceKind.localPaths?.(remote, { configDir: '/etc/drills' })).toEqual([]);
  });

  test('escapes restic filter characters so an include matches only its own path', () => {
    expect(escapeResticPattern('/data/we[ird] *?.txt')).toBe('/data/we\\[ird\\] \\*\\?.txt');
    expect(escapeResticPattern('/data/back\\slash')).toBe('/data/back\\\\slash');
  });

  test('finds the backed-up folder in the snapshot tree only along a chain of single folders', async () => {
    const tree: Record<string, { name: string; dir: boolean }[]> = {
      '': [{ name: 'srv', dir: true }],
      '/srv': [{ name: 'app', dir: true }],
    };
    const children = async (dir: string) => tree[dir] ?? [];
    expect(await findSnapshotRoot(['/srv/app'], children)).toBe('/srv/app');
    expect(await findSnapshotRoot(['/home/me/srv/app'], children)).toBe('/srv/app');
    expect(await findSnapshotRoot(['/srv/app', '/etc'], children)).toBe('');
    // `backup .` of a folder whose contents sit at the top, one of them named like the folder.
    const dot: Record<string, { name: string; dir: boolean }[]> = {
      '': [
        { name: 'app', dir: true },
        { name: 'x.txt', dir: false },
      ],
    };
    expect(await findSnapshotRoot(['/srv/app'], async (dir) => dot[dir] ?? [])).toBe('');
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
}
