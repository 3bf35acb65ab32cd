import { appendFile, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, writeTree } from '../helpers/artefacts.js';
import { cli } from '../helpers/cli.js';
import { pgDump, query } from '../helpers/pg-dumps.js';
import { createResticRepo, TEST_RESTIC_PASSWORD, type ResticRepo } from '../helpers/restic-repo.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from '../helpers/s3-server.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { inject } from 'vitest';

interface InitJson {
  file: string;
  drills: { name: string; kind: string; location: string; found: string; env: string[] }[];
  missingEnv: string[];
  next: string;
}

interface RunJson {
  runs: { drill: string; verdict: string; cause: string | null; checks: { name: string }[] }[];
}

const DAY = 86_400_000;

let root: string;
let backups: string;
let restic: ResticRepo;
let s3: S3TestServer;
let dbUrl: string;

/** A set's files and their coreutils checksum list, as a backup job would write them. */
async function makeSet(dir: string, day: number): Promise<void> {
  await writeTree(dir, {
    'docs/a.txt': `alpha ${day}\n`,
    'docs/b.txt': `beta ${day}\n`,
    'data/c.bin': Buffer.alloc(4096, day),
  });
  await writeFile(
    path.join(dir, 'SHA256SUMS'),
    await run('sha256sum', ['docs/a.txt', 'docs/b.txt', 'data/c.bin'], dir),
  );
}

/** Sets the mtime `daysAgo` days back, as nightly jobs leave them. */
async function age(file: string, daysAgo: number): Promise<void> {
  const when = new Date(Date.now() - daysAgo * DAY);
  await utimes(file, when, when);
}

beforeAll(async () => {
  root = await tempDir('restore-drill-init-');
  backups = path.join(root, 'backups');
  // A folder of nightly .tar.gz files, one a day, each with SHA256SUMS as its first member.
  const nightly = path.join(backups, 'nightly');
  await mkdir(nightly, { recursive: true });
  for (const daysAgo of [2, 1, 0]) {
    const set = path.join(root, 'src', `set-${daysAgo}`);
    await makeSet(set, daysAgo);
    const archive = path.join(
      nightly,
      `files-${daysAgo === 0 ? 'c' : daysAgo === 1 ? 'b' : 'a'}.tar.gz`,
    );
    await run('tar', ['-czf', archive, '-C', set, 'SHA256SUMS', 'docs', 'data']);
    await age(archive, daysAgo);
  }
  // A folder of dated set folders, each with its checksum list.
  for (const daysAgo of [1, 0]) {
    const set = path.join(backups, 'folders', `2026-12-0${5 - daysAgo}`);
    await makeSet(set, daysAgo);
    await age(set, daysAgo);
  }
  // A restic repository.
  restic = await createResticRepo();
  await makeSet(path.join(root, 'src', 'restic'), 9);
  await restic.backup(['.'], { cwd: path.join(root, 'src', 'restic') });
  // pg_dump files: custom format with restore-drill's manifest beside, and plain SQL.
  dbUrl = await createTestDatabase();
  await query(dbUrl, 'create table orders (id int primary key, total numeric)');
  await query(dbUrl, 'insert into orders select g, g * 1.5 from generate_series(1, 500) g');
  await mkdir(path.join(backups, 'db'), { recursive: true });
  await mkdir(path.join(backups, 'db-plain'), { recursive: true });
  const dump = await pgDump(dbUrl, 'c', path.join(backups, 'db', 'shop-1.dump'));
  const made = await cli(['manifest', '--database', dbUrl, '--out', `${dump}.manifest.json`]);
  expect(made.exitCode, made.stderr).toBe(0);
  await pgDump(dbUrl, 'p', path.join(backups, 'db-plain', 'shop-1.sql'));
  // An S3 bucket of set prefixes.
  s3 = await startS3Server();
  await s3.createBucket('acme-backups');
  for (const day of ['2026-12-04', '2026-12-05']) {
    const set = path.join(root, 'src', `s3-${day}`);
    await makeSet(set, Number(day.slice(-1)));
    for (const file of ['SHA256SUMS', 'docs/a.txt', 'docs/b.txt', 'data/c.bin'])
      await s3.put('acme-backups', `nightly/${day}/${file}`, await readFile(path.join(set, file)));
  }
}, 60_000);

afterAll(async () => {
  await restic?.cleanup();
  await s3?.stop();
});

function envFor(extra: Record<string, string> = {}): Record<string, string> {
  const server = inject('postgres');
  return {
    RESTIC_PASSWORD: TEST_RESTIC_PASSWORD,
    RESTIC_CACHE_DIR: restic.cacheDir,
    PGUSER: server.user,
    PGPASSWORD: 'trust-needs-none',
    PGHOST: server.host,
    PGPORT: String(server.port),
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    ...extra,
  };
}

describe('restore-drill init (real folders, archives, restic, pg_dump files, S3)', () => {
  it('proposes a drill per location and writes a commented config that validates', async () => {
    const cwd = path.join(root, 'user');
    await mkdir(cwd, { recursive: true });
    const locations = ['nightly', 'folders', 'db', 'db-plain'].map((name) =>
      path.join(backups, name),
    );
    const init = await cli(
      ['init', ...locations, restic.repository, 's3://acme-backups/nightly/', '--json'],
      { cwd, env: envFor() },
    );
    expect(init.exitCode, init.stderr).toBe(0);
    const written = JSON.parse(init.stdout) as InitJson;
    expect(written.file).toBe(path.join(cwd, 'config', 'restore-drill.yaml'));
    expect(written.drills.map((drill) => [drill.name, drill.kind])).toEqual([
      ['nightly', 'tar'],
      ['folders', 'directory'],
      ['db', 'postgres'],
      ['db-plain', 'postgres'],
      ['repo', 'restic'],
      ['nightly-2', 's3'],
    ]);
    expect(written.drills[0]?.found).toMatch(/^3 archives, newest files-c\.tar\.gz \(\d+ B\)$/);
    expect(written.missingEnv).toEqual([]);
    expect(written.next).toMatch(/ run$/);

    const text = await readFile(written.file, 'utf8');
    expect(text.split('\n')[0]).toMatch(
      /^# yaml-language-server: \$schema=.*config\/restore-drill\.schema\.json$/,
    );
    // What was found is written above each drill.
    expect(text).toContain(`# ${path.join(backups, 'nightly')}: 3 archives, newest files-c.tar.gz`);
    // Manifests found: beside the dump.
    expect(text).toContain('path: "{set}.manifest.json"');
    // Secrets and servers only as references.
    expect(text).toContain('password: ${env:RESTIC_PASSWORD}');
    expect(text).toContain('${env:PGPASSWORD}@${env:PGHOST}:${env:PGPORT}');
    expect(text).toContain('endpoint: ${env:AWS_ENDPOINT_URL}');
    expect(text).not.toContain(TEST_RESTIC_PASSWORD);
    expect(text).not.toContain(s3.endpoint);

    const validated = await cli(['validate'], { cwd, env: envFor() });
    expect(validated.exitCode, validated.stderr).toBe(0);
    expect(validated.stdout).toContain('valid, 6 drills');
  });

  describe('the first run after init', () => {
    // One `init` of every kind of location, then one `run` of all its drills, as a new user
    // does; each test checks its drills in that run.
    let runs: RunJson['runs'];
    beforeAll(async () => {
      const cwd = path.join(root, 'first-run');
      await mkdir(cwd, { recursive: true });
      const locations = [
        ...['nightly', 'folders', 'db', 'db-plain'].map((name) => path.join(backups, name)),
        restic.repository,
        's3://acme-backups/nightly/',
      ];
      const init = await cli(['init', ...locations], { cwd, env: envFor() });
      expect(init.exitCode, init.stderr).toBe(0);
      // Evidence on the test server rather than an embedded store (the embedded default
      // has its own tests): init's part is the drills.
      await appendFile(
        path.join(cwd, 'config', 'restore-drill.yaml'),
        `database:\n  url: ${await createTestDatabase()}\n`,
      );
      const next = init.stdout.trim().split('\n').at(-1)?.trim() ?? '';
      // The printed command, as printed: here `node <path to the CLI> run`.
      expect(next).toMatch(/^node \S+restore-drill\.js run$/);
      const first = await cli(['run', '--json'], { cwd, env: envFor() });
      runs = (JSON.parse(first.stdout) as RunJson).runs;
      expect(
        runs.map((entry) => [entry.drill, entry.verdict, entry.cause]),
        first.stderr,
      ).toEqual(runs.map((entry) => [entry.drill, 'passed', null]));
      expect(first.exitCode).toBe(0);
      expect(runs.map((entry) => entry.drill)).toEqual([
        'nightly',
        'folders',
        'db',
        'db-plain',
        'repo',
        'nightly-2',
      ]);
    }, 60_000);

    /** The named drill's run: it passed, and these are its checks. */
    const checksOf = (drill: string): string[] => {
      const found = runs.find((entry) => entry.drill === drill);
      expect(found?.verdict, drill).toBe('passed');
      return found?.checks.map((check) => check.name) ?? [];
    };

    it('passes for archives and set folders, with the checksum lists it found inside', () => {
      expect(checksOf('nightly')).toContain('manifest');
      expect(checksOf('folders')).toContain('manifest');
    });

    it('passes for a restic repository and S3 set prefixes', () => {
      expect(checksOf('repo')).toContain('restic-check');
      expect(checksOf('nightly-2')).toContain('manifest');
    });

    it('passes for pg_dump files, with the row counts of the manifest beside the dump', () => {
      expect(checksOf('db')).toEqual(expect.arrayContaining(['manifest', 'tables']));
    });

    it('passes for plain SQL dumps, loaded without a server', () => {
      expect(checksOf('db-plain')).toEqual(expect.arrayContaining(['restore']));
    });
  });

  it('prints the next command for a human, naming the variables still to set', async () => {
    const cwd = path.join(root, 'human');
    await mkdir(cwd, { recursive: true });
    const env = envFor();
    const init = await cli(['init', restic.repository, '--config', 'drills.yaml'], {
      cwd,
      env: { ...env, RESTIC_PASSWORD: '' },
    });
    expect(init.exitCode, init.stderr).toBe(0);
    expect(init.stdout).toContain('wrote drills.yaml: 1 drill');
    expect(init.stdout).toMatch(/repo\s+restic\s+a restic repository/);
    expect(init.stdout).toContain('Set RESTIC_PASSWORD in the environment, then run:');
    expect(init.stdout.trim().split('\n').at(-1)).toMatch(/ run --config drills\.yaml$/);
  });

  it('never overwrites a config without --force (exit 2, file unchanged)', async () => {
    const cwd = path.join(root, 'existing');
    await mkdir(path.join(cwd, 'config'), { recursive: true });
    const file = path.join(cwd, 'config', 'restore-drill.yaml');
    await writeFile(file, '# mine\n');
    const refused = await cli(['init', path.join(backups, 'nightly')], { cwd });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('config/restore-drill.yaml exists: add --force to replace it');
    expect(await readFile(file, 'utf8')).toBe('# mine\n');
    const forced = await cli(['init', path.join(backups, 'nightly'), '--force'], { cwd });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('kind: tar');
  });

  it('refuses a location it cannot use, naming it, and writes nothing', async () => {
    const cwd = path.join(root, 'bad');
    await mkdir(path.join(cwd, 'empty'), { recursive: true });
    await writeFile(path.join(cwd, 'notes.txt'), 'not a backup\n');
    for (const [location, message] of [
      ['no-such-folder', 'no-such-folder: no such file or folder'],
      ['empty', 'empty: empty folder, no backups to drill'],
      ['notes.txt', 'notes.txt: not a backup init recognises'],
    ] as const) {
      const result = await cli(['init', path.join(backups, 'nightly'), location], { cwd });
      expect(result.exitCode, location).toBe(2);
      expect(result.stderr, location).toContain(message);
    }
    const unreachable = await cli(['init', 's3://no-such-bucket/x/'], {
      cwd,
      env: envFor(),
    });
    expect(unreachable.exitCode).toBe(2);
    expect(unreachable.stderr).toContain('s3://no-such-bucket/x/: cannot list');
    await expect(readFile(path.join(cwd, 'config', 'restore-drill.yaml'))).rejects.toThrow();
  });
});
