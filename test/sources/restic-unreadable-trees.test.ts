import { cp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { silentLogger, type Logger } from '../../src/log/logger.js';
import { runCommand } from '../../src/exec/run-command.js';
import { SourceError, type BackupSet } from '../../src/model/restore.js';
import { BackupDamagedError, type RestoreSource } from '../../src/sources/restore-source.js';
import {
  createResticRepo,
  pseudoRandomBytes,
  resticEnv,
  resticSourceOver,
  writeTree,
  type ResticRepo,
} from '../helpers/restic-repo.js';

const log = silentLogger();

/** A logger that keeps the command of each restic run the source logs, in order. */
function commandLogger(commands: string[]): Logger {
  return pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        const { command } = JSON.parse(String(chunk)) as { command?: string };
        if (command !== undefined) commands.push(command);
        done();
      },
    }),
  );
}

/** Every pack file of a repository, smallest first (a small snapshot's trees sit in the smallest). */
async function packs(repository: string): Promise<{ file: string; size: number }[]> {
  const found: { file: string; size: number }[] = [];
  for (const sub of await readdir(path.join(repository, 'data')))
    for (const name of await readdir(path.join(repository, 'data', sub))) {
      const file = path.join(repository, 'data', sub, name);
      found.push({ file, size: (await stat(file)).size });
    }
  return found.sort((a, b) => a.size - b.size);
}

/**
 * A repository that opens (config, keys, snapshots fine) but whose snapshot's trees
 * cannot be read back: `restic stats` and `restic ls` walk those trees before any
 * restore, so what they meet is damage to the backup (`failed`), not an error of the
 * drill. A restic cache shared with a damaged copy of the same repository must not
 * make the healthy one look damaged.
 */
describe('restic source over a repository whose trees cannot be read', () => {
  let repo: ResticRepo;
  let set: BackupSet;
  const copies = new Map<string, string>();

  beforeAll(async () => {
    repo = await createResticRepo();
    const data = path.join(repo.dir, 'data');
    await writeTree(data, { 'a.txt': 'alpha\n', 'sub/big.bin': pseudoRandomBytes(400_000, 3) });
    const short = await repo.backup([data]);
    const id = (await repo.fullIds()).get(short) as string;
    set = { id, path: `restic:${repo.repository}@${short}`, size: null, mtime: null, hash: null };
    for (const name of ['no-index', 'bad-tree']) {
      const copy = path.join(repo.dir, name);
      await cp(repo.repository, copy, { recursive: true });
      copies.set(name, copy);
    }
    // Without its index, restic cannot find the snapshot's root tree.
    for (const file of await readdir(path.join(copies.get('no-index')!, 'index')))
      await rm(path.join(copies.get('no-index')!, 'index', file));
    // The tree pack (the smallest) fails its authentication.
    const [treePack] = await packs(copies.get('bad-tree')!);
    const bytes = await readFile(treePack!.file);
    for (let i = 40; i < 56 && i < bytes.length; i++) bytes[i] = (bytes[i] as number) ^ 0xff;
    await writeFile(treePack!.file, bytes, { mode: 0o600 });
  });
  afterAll(() => repo?.cleanup());

  function source(repository: string, cacheDir: string, logger = log): RestoreSource {
    return resticSourceOver(repository, cacheDir, { configDir: repo.dir, log: logger });
  }

  async function failure(run: () => Promise<unknown>): Promise<unknown> {
    return run().then(
      () => null,
      (error: unknown) => error,
    );
  }

  it.each([
    ['no-index', /not found in repository/],
    ['bad-tree', /ciphertext verification failed|decrypting blob/],
  ])(
    '%s: sizing and listing the snapshot are damage, naming what restic could not read',
    async (name, why) => {
      const restic = source(copies.get(name)!, path.join(repo.dir, `${name}-cache`));
      const sizing = await failure(() => restic.restoredSize!(set, {}));
      expect(sizing).toBeInstanceOf(BackupDamagedError);
      expect((sizing as BackupDamagedError).message).toMatch(
        new RegExp(
          `^restic repository .*${name} cannot read snapshot ${set.id.slice(0, 8)} back: `,
        ),
      );
      expect((sizing as BackupDamagedError).damage.detail).toMatch(why);
      // The evidence keeps the command that met it.
      const commands = (sizing as BackupDamagedError).partial.commands ?? [];
      expect(commands.map((command) => command.command).join('\n')).toMatch(/ stats /);
      const listing = await failure(() => restic.listItems(set, {}));
      expect(listing).toBeInstanceOf(BackupDamagedError);
      expect((listing as BackupDamagedError).damage.detail).toMatch(why);
    },
  );

  it.each(['ls', 'stats'])(
    'restic %s of a healthy repository whose cache a damaged copy filled asks the repository again, without the cache',
    async (verb) => {
      const shared = path.join(repo.dir, `shared-${verb}-cache`);
      const damaged = await failure(() =>
        source(copies.get('bad-tree')!, shared).listItems(set, {}),
      );
      expect(damaged).toBeInstanceOf(BackupDamagedError);
      const commands: string[] = [];
      const healthy = source(repo.repository, shared, commandLogger(commands));
      if (verb === 'stats') expect(await healthy.restoredSize!(set, {})).toBeGreaterThan(400_000);
      else
        expect((await healthy.listItems(set, {})).map((item) => item.path).sort()).toEqual([
          'a.txt',
          'sub/big.bin',
        ]);
      const ran = commands.filter((command) => command.startsWith(`restic ${verb} `));
      expect(ran).toHaveLength(2);
      expect(ran[0]).toMatch(new RegExp(` --cache-dir ${shared} ${set.id}$`));
      expect(ran[1]).toMatch(new RegExp(` --no-cache ${set.id}$`));
    },
  );

  it('a restore restic stops part-way (a data blob the rebuilt index lacks) fails its restic-restore check, naming what restic said', async () => {
    const copy = path.join(repo.dir, 'blob-gone');
    await cp(repo.repository, copy, { recursive: true });
    // The largest pack holds sub/big.bin's data; the index rebuilt without it no longer names its blobs.
    const all = await packs(copy);
    await rm(all[all.length - 1]!.file);
    const env = resticEnv(copy, path.join(repo.dir, 'blob-gone-cache'));
    const rebuilt = await runCommand('restic', ['rebuild-index'], {
      env,
      input: '',
      timeoutMs: 60_000,
    });
    expect(rebuilt.exitCode, rebuilt.stderrTail).toBe(0);
    const scratch = path.join(repo.dir, 'blob-gone-scratch');
    await mkdir(scratch);
    const restic = source(copy, path.join(repo.dir, 'blob-gone-cache'));
    const error = await failure(() => restic.restore(set, scratch, { items: null, log }));
    expect(error).toBeInstanceOf(BackupDamagedError);
    const [check] = (error as BackupDamagedError).partial.checks ?? [];
    expect(check).toMatchObject({
      name: 'restic-restore',
      verdict: 'failed',
      findings: [
        {
          item: `snapshot ${set.id.slice(0, 8)}`,
          problem: 'restore-stopped',
          actual: expect.stringMatching(/[Uu]nknown blob|not found/) as unknown,
        },
      ],
    });
    expect(check?.detail).toMatch(
      new RegExp(
        `^restic stopped restoring snapshot ${set.id.slice(0, 8)} after \\d+ file\\(s\\): `,
      ),
    );
  });

  it('a repository that cannot be opened stays an error, not damage', async () => {
    const missing = source(path.join(repo.dir, 'nowhere'), path.join(repo.dir, 'nowhere-cache'));
    const error = await failure(() => missing.restoredSize!(set, {}));
    expect(error).toBeInstanceOf(SourceError);
    expect(error).not.toBeInstanceOf(BackupDamagedError);
  });
});
