import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import { WORKER_MAX_FILE_BYTES } from '../../src/scratch/copy-workers.js';
import { directorySourceKind } from '../../src/sources/directory-source.js';
import { type RestoreSource } from '../../src/sources/restore-source.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { asUnprivileged, giveToUnprivileged } from '../helpers/as-user.js';
import { listFiles, run, writeTree } from '../helpers/artefacts.js';
import { tempDir } from '../helpers/temp.js';
import { describeSourceConformance } from './source-conformance.js';

const log = silentLogger();

function directorySource(pattern: string, configDir: string): RestoreSource {
  return directorySourceKind.create(
    directorySourceKind.configSchema.parse({ kind: 'directory', path: pattern }),
    { configDir, log },
  );
}

describeSourceConformance({
  kind: 'directory',
  capabilities: {
    files: true,
    globPaths: true,
    namedSets: true,
    sampling: true,
    emptySets: true,
    damage: false,
  },
  setName: (name) => `set-${name}`,
  async makeSet(tree, setsDir, name, time) {
    await mkdir(setsDir, { recursive: true });
    const target = path.join(setsDir, name);
    await run('cp', ['-a', '--', tree, target]);
    if (time) await utimes(target, time, time);
    return target;
  },
  create: (group, configDir) => directorySource(path.join(group, 'set-*'), configDir),
  createFromGlob: directorySource,
  vanish: (id) => rm(id, { recursive: true }),
  vanishedMessage: (id) => `cannot read backup set ${id}: no such file or directory`,
});

describe('directory source', () => {
  let root: string;

  beforeAll(async () => {
    root = await tempDir('restore-drill-dir-');
  });

  /** A set folder with the given files, and the source over it. */
  async function makeSet(
    name: string,
    files: Record<string, string>,
  ): Promise<{ setDir: string; source: RestoreSource; set: BackupSet }> {
    const base = path.join(root, name);
    const setDir = path.join(base, 'set-1');
    await mkdir(setDir, { recursive: true });
    await writeTree(setDir, files);
    const source = directorySource(path.join(base, 'set-*'), root);
    return { setDir, source, set: await onlySet(source) };
  }

  async function scratch(): Promise<string> {
    const dir = await tempDir('restore-drill-scratch-');
    return dir;
  }

  it('matches folders only, not files, with size null', async () => {
    const base = path.join(root, 'kinds');
    await writeTree(base, { 'set-file': 'not a folder', 'set-a/x': 'x' });
    const sets = await directorySource(path.join(base, 'set-*'), root).listSets({});
    expect(sets.map((set) => [set.path, set.size, set.hash])).toEqual([
      [path.join(base, 'set-a'), null, null],
    ]);
  });

  it('names the static base of its glob as the local path it reads', () => {
    const config = directorySourceKind.configSchema.parse({
      kind: 'directory',
      path: 'backups/app/2026-*/',
    });
    expect(directorySourceKind.localPaths?.(config, { configDir: '/etc/restore-drill' })).toEqual([
      '/etc/restore-drill/backups/app',
    ]);
  });

  it('recreates a symlink that stays inside the set, as a symlink', async () => {
    const { setDir, source, set } = await makeSet('safe-link', { 'data/real.txt': 'real\n' });
    await symlink('data/real.txt', path.join(setDir, 'alias.txt'));
    await symlink('../data', path.join(setDir, 'data', 'self'));
    const dir = await scratch();
    const outcome = await source.restore(set, dir, { items: null, log });
    expect(outcome.refused).toEqual([]);
    expect(outcome.files.map((file) => file.path)).toEqual(['data/real.txt']);
    expect(outcome.links).toEqual([
      { path: 'alias.txt', target: 'data/real.txt' },
      { path: 'data/self', target: '../data' },
    ]);
    expect(await readlink(path.join(dir, 'alias.txt'))).toBe('data/real.txt');
    expect(await readFile(path.join(dir, 'alias.txt'), 'utf8')).toBe('real\n');
    expect((await lstat(path.join(dir, 'data', 'self'))).isSymbolicLink()).toBe(true);
  });

  it('restores links whose targets lie outside the set, absolute or dangling, as links, never following them', async () => {
    const outside = path.join(root, 'outside-secrets');
    await writeTree(outside, { 'secret.txt': 'secret' });
    const { setDir, source, set } = await makeSet('outside-links', { 'ok.txt': 'ok' });
    await symlink('../../../etc', path.join(setDir, 'escape'));
    await symlink(path.join(setDir, 'ok.txt'), path.join(setDir, 'abs'));
    await symlink(outside, path.join(setDir, 'secrets'));
    await symlink('no/such/file', path.join(setDir, 'dangling'));
    const dir = await scratch();
    const outcome = await source.restore(set, dir, { items: null, log });
    expect(outcome.refused).toEqual([]);
    expect(outcome.links).toEqual([
      { path: 'abs', target: path.join(setDir, 'ok.txt') },
      { path: 'dangling', target: 'no/such/file' },
      { path: 'escape', target: '../../../etc' },
      { path: 'secrets', target: outside },
    ]);
    for (const link of outcome.links ?? [])
      expect(await readlink(path.join(dir, link.path))).toBe(link.target);
    // Links are not files: nothing behind them was read or counted.
    expect(outcome.files.map((file) => file.path)).toEqual(['ok.txt']);
    expect(await listFiles(dir)).toEqual(['ok.txt']);
    expect((await source.listItems(set, {})).map((item) => item.path)).toEqual(['ok.txt']);
  });

  it('restores a link that leaves the set through another link of the set, as tar does', async () => {
    const { setDir, source, set } = await makeSet('chain-link', { 'deep/deeper/file.txt': 'x' });
    await symlink('../..', path.join(setDir, 'deep', 'deeper', 's'));
    await symlink('deep/deeper/s/..', path.join(setDir, 't'));
    const dir = await scratch();
    const outcome = await source.restore(set, dir, { items: null, log });
    expect(outcome.refused).toEqual([]);
    expect(await readlink(path.join(dir, 'deep', 'deeper', 's'))).toBe('../..');
    expect(await readlink(path.join(dir, 't'))).toBe('deep/deeper/s/..');
  });

  it('restores the names of one file (hard links) as hard links, in a whole restore and a sample', async () => {
    const { setDir, source, set } = await makeSet('hard-links', {
      'a/one.txt': 'same\n',
      'other.txt': 'other\n',
    });
    await run('ln', [path.join(setDir, 'a', 'one.txt'), path.join(setDir, 'two.txt')]);
    await run('ln', [path.join(setDir, 'a', 'one.txt'), path.join(setDir, 'a', 'three.txt')]);
    for (const items of [null, new Set(['a/one.txt', 'two.txt'])]) {
      const dir = await scratch();
      const outcome = await source.restore(set, dir, { items, log });
      expect(outcome.refused).toEqual([]);
      const names = items === null ? ['a/one.txt', 'a/three.txt', 'two.txt'] : [...items];
      const inodes = new Set<number>();
      for (const name of names) inodes.add((await lstat(path.join(dir, name))).ino);
      expect(inodes.size).toBe(1);
      expect((await lstat(path.join(dir, names[0] as string))).nlink).toBe(names.length);
      const shas = outcome.files.filter((file) => names.includes(file.path)).map((f) => f.sha256);
      expect(shas).toHaveLength(names.length);
      expect(new Set(shas).size).toBe(1);
    }
  });

  it('restores the names of one large file as hard links', async () => {
    const { setDir, source, set } = await makeSet('large-links', { 'small.txt': 'small\n' });
    const large = randomBytes(WORKER_MAX_FILE_BYTES + 1);
    await writeFile(path.join(setDir, 'big.bin'), large);
    await run('ln', [path.join(setDir, 'big.bin'), path.join(setDir, 'again.bin')]);
    const dir = await scratch();
    const outcome = await source.restore(set, dir, { items: null, log });
    expect(outcome.refused).toEqual([]);
    const sha256 = createHash('sha256').update(large).digest('hex');
    expect(outcome.files.filter((file) => file.path.endsWith('.bin'))).toEqual([
      { path: 'again.bin', size: large.length, sha256 },
      { path: 'big.bin', size: large.length, sha256 },
    ]);
    const [again, big] = await Promise.all(
      ['again.bin', 'big.bin'].map((name) => lstat(path.join(dir, name))),
    );
    expect(again?.ino).toBe(big?.ino);
    expect(big?.nlink).toBe(2);
    expect(await listFiles(dir)).toEqual(['again.bin', 'big.bin', 'small.txt']);
  });

  it('refuses a requested item whose path passes through a symlink', async () => {
    const { setDir, source, set } = await makeSet('item-through-link', { 'real/a.txt': 'a' });
    await symlink('real', path.join(setDir, 'alias'));
    const outcome = await source.restore(set, await scratch(), {
      items: new Set(['alias/a.txt', 'real/a.txt']),
      log,
    });
    expect(outcome.files.map((file) => file.path)).toEqual(['real/a.txt']);
    expect(outcome.refused).toEqual([
      { entry: 'alias/a.txt', reason: 'path passes through a symlink of the set' },
    ]);
  });

  it('refuses a FIFO and a character device, naming each, and skips a socket (no data)', async () => {
    const { setDir, source, set } = await makeSet('specials', { 'ok.txt': 'ok' });
    await run('mkfifo', [path.join(setDir, 'pipe')]);
    await run('mknod', [path.join(setDir, 'null-device'), 'c', '1', '3']);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(setDir, 'sock'), resolve));
    try {
      const outcome = await source.restore(set, await scratch(), { items: null, log });
      expect(outcome.refused.sort((a, b) => a.entry.localeCompare(b.entry))).toEqual([
        { entry: 'null-device', reason: 'special file: character device' },
        { entry: 'pipe', reason: 'special file: FIFO' },
      ]);
      expect(outcome.skipped).toEqual([{ entry: 'sock', kind: 'socket' }]);
      expect(outcome.files.map((file) => file.path)).toEqual(['ok.txt']);
      expect((await source.listItems(set, {})).map((item) => item.path)).toEqual(['ok.txt']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /**
   * Restores (or lists) `set` as an unprivileged user and expects a `source.auth` SourceError
   * naming `entry`: the drill may not read it, which says nothing about the backup.
   */
  async function expectDenied(
    attempt: (dir: string) => Promise<unknown>,
    setDir: string,
    entry: string,
  ): Promise<string> {
    const dir = await scratch();
    await chmod(root, 0o755);
    await giveToUnprivileged(dir);
    const error: unknown = await asUnprivileged(() => attempt(dir)).then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).causeCode).toBe('source.auth');
    const what = entry === '' ? `backup set ${setDir}` : `${entry} in backup set ${setDir}`;
    expect((error as SourceError).message).toMatch(
      new RegExp(
        `^cannot read ${escapeRegExp(what)}: permission denied to uid \\d+( \\(\\S+\\))?; run the drill as a user who can read the whole set$`,
      ),
    );
    return dir;
  }

  it('is an error (source.auth), not a refusal, when a file of the set may not be read', async () => {
    const { setDir, source, set } = await makeSet('denied-file', {
      'ok.txt': 'ok',
      'locked.txt': 'secret',
    });
    await chmod(path.join(setDir, 'locked.txt'), 0o000);
    await expectDenied(
      (dir) => source.restore(set, dir, { items: null, log }),
      setDir,
      'locked.txt',
    );
    // Sampled: only the denied item asked for.
    await expectDenied(
      (dir) => source.restore(set, dir, { items: new Set(['locked.txt']), log }),
      setDir,
      'locked.txt',
    );
    // A file that cannot be read for another reason is still refused, and the rest restored.
    const outcome = await source.restore(set, await scratch(), {
      items: new Set(['ok.txt', 'gone.txt']),
      log,
    });
    expect(outcome.refused).toEqual([{ entry: 'gone.txt', reason: 'not found in the set' }]);
    expect(outcome.files.map((file) => file.path)).toEqual(['ok.txt']);
  });

  it('is an error when a large file may not be read, and leaves no part of it in scratch', async () => {
    const { setDir, source, set } = await makeSet('denied-large', { 'small.txt': 'small\n' });
    await writeFile(path.join(setDir, 'locked.bin'), randomBytes(WORKER_MAX_FILE_BYTES + 1));
    await chmod(path.join(setDir, 'locked.bin'), 0o000);
    const dir = await expectDenied(
      (into) => source.restore(set, into, { items: null, log }),
      setDir,
      'locked.bin',
    );
    expect(await listFiles(dir)).not.toContain('locked.bin');
  });

  it('is an error when a folder of the set may not be read, restoring or listing', async () => {
    const { setDir, source, set } = await makeSet('denied-folder', {
      'ok.txt': 'ok',
      'private/a.txt': 'a',
    });
    await chmod(path.join(setDir, 'private'), 0o000);
    await expectDenied((dir) => source.restore(set, dir, { items: null, log }), setDir, 'private');
    // Sampling from a listing with a hole would misstate what the sample was drawn from.
    await expectDenied(() => source.listItems(set, {}), setDir, 'private');
    await expectDenied(
      (dir) => source.restore(set, dir, { items: new Set(['private/a.txt']), log }),
      setDir,
      'private/a.txt',
    );
  });

  it('is an error (source.auth) when the set folder itself may not be read', async () => {
    const { setDir, source, set } = await makeSet('denied-root', { 'ok.txt': 'ok' });
    await chmod(setDir, 0o000);
    await expectDenied((dir) => source.restore(set, dir, { items: null, log }), setDir, '');
    await expectDenied(
      (dir) => source.restore(set, dir, { items: new Set(['ok.txt']), log }),
      setDir,
      '',
    );
    await expectDenied(() => source.listItems(set, {}), setDir, '');
  });

  it('fails with a SourceError when the folder holding the sets cannot be read', async () => {
    const base = path.join(root, 'denied-base');
    await writeTree(base, { 'set-1/a.txt': 'a' });
    await chmod(base, 0o000);
    await chmod(root, 0o755);
    const source = directorySource(path.join(base, 'set-*'), root);
    await asUnprivileged(async () => {
      await expect(source.listSets({})).rejects.toThrow(
        `cannot list backup sets of '${path.join(base, 'set-*')}': ${base}: permission denied`,
      );
    });
    await chmod(base, 0o755);
  });
});

async function onlySet(source: RestoreSource): Promise<BackupSet> {
  const sets = await source.listSets({});
  expect(sets).toHaveLength(1);
  return sets[0] as BackupSet;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
