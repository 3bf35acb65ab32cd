import { chmod, cp, mkdir, open, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { runDrill } from '../../src/drill/run-drill.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { getRun } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { asUnprivileged, giveToUnprivileged } from '../helpers/as-user.js';
import { run } from '../helpers/artefacts.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import {
  createResticRepo,
  pseudoRandomBytes,
  TEST_RESTIC_PASSWORD,
  writeTree,
  type ResticRepo,
} from '../helpers/restic-repo.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

/**
 * Damage in every other source kind is `failed` (`restore.damaged`), with what was restored
 * before it and the commands run; a backup the drill could not reach is `error`.
 */
let t: TestStore;
let base: string;

beforeAll(async () => {
  t = await openTestStore('postgres');
  base = await tempDir('restore-drill-damaged-sources-');
}, SLOW_STORE_MS);
afterAll(async () => {
  await t?.cleanup();
}, SLOW_STORE_MS);

/** Runs a one-drill config through runDrill and checks the stored record matches the returned one. */
async function drill(
  name: string,
  source: Record<string, unknown>,
  scratchRoot = path.join(base, 'scratch'),
): Promise<RunRecord> {
  const text = stringify({
    scratch: { root: scratchRoot },
    drills: [{ name, source, checks: { files: { min: 1 } } }],
  });
  const loaded = parseConfig(text, path.join(base, 'restore-drill.yaml'), {}, base);
  const [config] = loaded.config.drills;
  if (!config) throw new Error('no drill');
  const result = await runDrill({
    drill: config,
    config: loaded.config,
    configDir: loaded.dir,
    db: t.store.db,
    log: silentLogger(),
    trigger: 'manual',
  });
  if (result.status !== 'finished') throw new Error('expected a finished run');
  expect((await getRun(t.store.db, result.record.runId))?.record).toMatchObject({
    verdict: result.record.verdict,
    cause: result.record.cause,
  });
  expect(await readdir(scratchRoot).catch(() => [])).toEqual([]);
  return result.record;
}

/** Inverts `count` bytes of `file` from `offset` (a repository's files are read-only). */
async function flipBytes(file: string, offset: number, count: number): Promise<void> {
  await chmod(file, 0o600);
  const handle = await open(file, 'r+');
  try {
    const bytes = Buffer.alloc(count);
    await handle.read(bytes, 0, count, offset);
    await handle.write(
      bytes.map((byte) => byte ^ 0xff),
      0,
      count,
      offset,
    );
  } finally {
    await handle.close();
  }
}

describe('runDrill: restic repositories', () => {
  let repo: ResticRepo;
  let flipped: string;

  beforeAll(async () => {
    repo = await createResticRepo();
    const data = path.join(repo.dir, 'data');
    await writeTree(data, {
      'etc/a.conf': 'alpha\n',
      'etc/zz-big.bin': pseudoRandomBytes(3_000_000, 7),
    });
    await repo.backup([data]);
    flipped = path.join(repo.dir, 'flipped');
    await cp(repo.repository, flipped, { recursive: true });
    // The largest pack holds zz-big.bin's blobs: 16 bytes flipped in its middle.
    const packs: { file: string; size: number }[] = [];
    for (const sub of await readdir(path.join(flipped, 'data')))
      for (const name of await readdir(path.join(flipped, 'data', sub))) {
        const file = path.join(flipped, 'data', sub, name);
        packs.push({ file, size: (await stat(file)).size });
      }
    const largest = packs.sort((a, b) => b.size - a.size)[0]!;
    await flipBytes(largest.file, Math.floor(largest.size / 2), 16);
  });
  afterAll(async () => {
    await repo?.cleanup();
  });

  const restic = (repository: string, password = TEST_RESTIC_PASSWORD) => ({
    kind: 'restic',
    repository,
    password,
    cacheDir: path.join(base, 'restic-cache', path.basename(repository)),
  });

  it('passes the healthy repository', async () => {
    const record = await drill('restic-healthy', restic(repo.repository));
    expect(record.verdict).toBe('passed');
    expect(record.restored.files).toBe(2);
  });

  it('fails a repository with a flipped byte in a pack, naming the file and keeping what came back', async () => {
    const record = await drill('restic-flipped', restic(flipped));
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(
      /^restore\.damaged: restore: backup damaged: .*ciphertext verification failed.* at entry etc\/zz-big\.bin in restic:.*; restored 1 file before it$/,
    );
    expect(record.restored.files).toBe(1);
    const restore = record.commands.find((command) => command.command.startsWith('restic restore'));
    expect(restore?.exitCode).toBe(1);
    expect(restore?.stderrTail).toMatch(/ignoring error for .*zz-big\.bin: .*ciphertext/);
    expect(record.checks.map((check) => [check.name, check.verdict])).toEqual([
      ['restore', 'failed'],
      ['restic-restore', 'failed'],
    ]);
  });

  it('fails a repository whose newest snapshot file is damaged, rather than passing the older snapshot restic still lists', async () => {
    const damaged = path.join(base, 'newest-snapshot-damaged');
    await cp(repo.repository, damaged, { recursive: true });
    const before = new Set(await readdir(path.join(damaged, 'snapshots')));
    await repo.restic([
      '-r',
      damaged,
      'backup',
      '--time',
      '2030-01-01 00:00:00',
      repo.dir + '/data',
    ]);
    const [newest] = (await readdir(path.join(damaged, 'snapshots'))).filter((n) => !before.has(n));
    await flipBytes(path.join(damaged, 'snapshots', newest!), 60, 1);
    const record = await drill('restic-newest-damaged', restic(damaged));
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(
      /^restore\.damaged: restore: backup damaged: could not load snapshot [0-9a-f]{8}: .*invalid data returned in restic source .*newest-snapshot-damaged; restored 0 files before it$/,
    );
    expect(record.commands.at(-1)?.command).toMatch(/^restic snapshots --json /);
  });

  it('fails a repository whose config does not decrypt with the key the password opened', async () => {
    const damaged = path.join(base, 'config-damaged');
    await cp(repo.repository, damaged, { recursive: true });
    await flipBytes(path.join(damaged, 'config'), 60, 1);
    const record = await drill('restic-config-damaged', restic(damaged));
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(
      /^restore\.damaged: restore: backup damaged: config or key [0-9a-f]+ is damaged: ciphertext verification failed in restic source /,
    );
  });

  it('errors before restoring when restic stats says the snapshot is larger than the free space', async () => {
    // 20 MB of zeros dedupe to almost nothing in the repository: only restic's restore size tells.
    const zeros = await createResticRepo();
    const small = path.join(base, 'small');
    await mkdir(small, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    try {
      const data = path.join(zeros.dir, 'zeros');
      await writeTree(data, { 'zero.bin': Buffer.alloc(20_000_000) });
      await zeros.backup([data]);
      const root = path.join(small, 'scratch');
      const record = await drill('restic-too-big', restic(zeros.repository), root);
      expect(record.verdict).toBe('error');
      expect(record.cause).toMatch(
        new RegExp(
          `^scratch\\.full: scratch full: needed at least [\\d.]+ MB, [\\d.]+ [KM]B free on ${root}/restic-too-big-[^ ]+ \\(expected 20(\\.\\d+)? MB × scratch margin 1\\.5`,
        ),
      );
      expect(record.restored.files).toBe(0);
    } finally {
      await run('umount', [small]);
      await zeros.cleanup();
    }
  });

  it('errors, not fails, on a wrong password or a repository that is not there', async () => {
    const wrong = await drill('restic-wrong-password', restic(repo.repository, 'not-it'));
    expect(wrong.verdict).toBe('error');
    expect(wrong.cause).toMatch(
      /^source\.auth: restic repository .*: wrong password or no key found$/,
    );
    const missing = await drill('restic-missing', restic(path.join(base, 'no-repo')));
    expect(missing.verdict).toBe('error');
    expect(missing.cause).toMatch(/^source\.unreachable: restic repository .* does not exist$/);
  });
});

describe('runDrill: command sources', () => {
  /** A restore tool (a Node script) that writes `files` into scratch, prints to stderr and exits `code`. */
  async function tool(name: string, body: string): Promise<string> {
    const file = path.join(base, 'tools', `${name}.mjs`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, body);
    return file;
  }

  beforeAll(async () => {
    await writeFile(path.join(base, 'set-1'), 'a backup\n');
  });

  const command = (script: string, extra: Record<string, unknown> = {}) => ({
    kind: 'command',
    restore: [process.execPath, script, '{scratch}'],
    list: [process.execPath, '-e', 'console.log("set-1")'],
    ...extra,
  });

  it('fails a tool that exits non-zero after partial output, keeping the files and its stderr tail', async () => {
    const script = await tool(
      'partial',
      `import { writeFileSync } from 'node:fs';
writeFileSync(process.argv[2] + '/first.txt', 'first\\n');
process.stderr.write('reading chunk 2: checksum mismatch in segment 0007\\n');
process.exit(2);
`,
    );
    const record = await drill('command-partial', command(script));
    expect(record.verdict).toBe('failed');
    expect(record.cause).toMatch(
      /^restore\.damaged: restore: backup damaged: restore command node exit code 2: reading chunk 2: checksum mismatch in segment 0007 in set-1; restored 1 file before it$/,
    );
    expect(record.restored.files).toBe(1);
    expect(record.commands).toHaveLength(1);
    expect(record.commands[0]).toMatchObject({
      exitCode: 2,
      stderrTail: 'reading chunk 2: checksum mismatch in segment 0007',
    });
  });

  it('errors when the tool exits with one of its unreachable exit codes', async () => {
    const script = await tool(
      'unreachable',
      `process.stderr.write('cannot connect to backup server\\n');\nprocess.exit(75);\n`,
    );
    const record = await drill(
      'command-unreachable',
      command(script, { unreachableExitCodes: [75] }),
    );
    expect(record.verdict).toBe('error');
    expect(record.cause).toBe(
      `source.unreachable: restore command node could not reach set-1: exit code 75: cannot connect to backup server`,
    );
    // The command the source ran before it gave up stays in the record, with its output tail.
    expect(record.commands).toEqual([
      expect.objectContaining({
        exitCode: 75,
        stderrTail: 'cannot connect to backup server',
        command: expect.stringContaining('unreachable'),
      }),
    ]);
  });

  it('errors when the list command fails, keeping that command and its output tail in the record', async () => {
    const record = await drill('command-list-fails', {
      kind: 'command',
      restore: [process.execPath, '-e', '0', '{scratch}'],
      list: [
        process.execPath,
        '-e',
        'console.error("catalogue locked by job 12"); process.exit(3)',
      ],
    });
    expect(record.verdict).toBe('error');
    expect(record.cause).toMatch(
      /^source\.failed: list command .* failed: exit code 3: catalogue locked by job 12$/,
    );
    expect(record.commands).toEqual([
      expect.objectContaining({ exitCode: 3, stderrTail: 'catalogue locked by job 12' }),
    ]);
  });

  it('errors when the tool is missing', async () => {
    const record = await drill('command-missing', {
      kind: 'command',
      restore: [path.join(base, 'tools', 'no-such-tool'), '{scratch}'],
      list: [process.execPath, '-e', 'console.log("set-1")'],
    });
    expect(record.verdict).toBe('error');
    expect(record.cause).toMatch(/^tool\.missing: cannot run restore command .*no-such-tool: /);
    expect(record.commands).toEqual([
      expect.objectContaining({ exitCode: null, command: expect.stringContaining('no-such-tool') }),
    ]);
  });
});

describe('runDrill: a backup the drill may not read', () => {
  // Permission denied says nothing of the backup, only of the user the drill runs as: `error`
  // with `source.auth`, never `failed` (issue 2: "error … unreadable archive, permission denied").
  let sets: string;
  let scratchRoot: string;

  beforeAll(async () => {
    sets = path.join(base, 'denied');
    await mkdir(path.join(sets, 'folder', 'set-1'), { recursive: true });
    await writeFile(path.join(sets, 'folder', 'set-1', 'ok.txt'), 'ok\n');
    await writeFile(path.join(sets, 'folder', 'set-1', 'locked.txt'), 'secret\n');
    await chmod(path.join(sets, 'folder', 'set-1', 'locked.txt'), 0o000);
    await mkdir(path.join(sets, 'tar'), { recursive: true });
    await run('tar', ['-czf', path.join(sets, 'tar', 'set-1.tar.gz'), '-C', base, 'denied/folder']);
    await chmod(path.join(sets, 'tar', 'set-1.tar.gz'), 0o000);
    scratchRoot = path.join(base, 'denied-scratch');
    await mkdir(scratchRoot);
    await chmod(base, 0o755);
    await giveToUnprivileged(scratchRoot);
  });

  it('errors (source.auth) on a file of a folder set it may not read, naming the file', async () => {
    const record = await asUnprivileged(() =>
      drill('denied-folder', { kind: 'directory', path: 'denied/folder/set-*' }, scratchRoot),
    );
    expect(record.verdict).toBe('error');
    expect(record.cause).toMatch(
      /^source\.auth: cannot read locked\.txt in backup set .*denied\/folder\/set-1: permission denied to uid \d+.*; run the drill as a user who can read the whole set$/,
    );
  });

  it('errors (source.auth) on an archive it may not read', async () => {
    const record = await asUnprivileged(() =>
      drill('denied-tar', { kind: 'tar', path: 'denied/tar/set-*.tar.gz' }, scratchRoot),
    );
    expect(record.verdict).toBe('error');
    expect(record.cause).toMatch(/^source\.auth: cannot read .*set-1\.tar\.gz: permission denied$/);
  });
});
