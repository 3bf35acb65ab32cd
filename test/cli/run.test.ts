import { readFile, writeFile, mkdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pythonTar, run, writeTree } from '../helpers/artefacts.js';
import { cli, runDrills } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

interface RunJson {
  runs: {
    runId: string;
    drill: string;
    verdict: string;
    cause: string | null;
    set: { path: string; size: number | null; mtime: string | null } | null;
    checks: {
      name: string;
      verdict: string;
      expected: unknown;
      actual: unknown;
      detail: string;
      findings?: { item: string; problem: string }[];
    }[];
    startedAt?: string;
    finishedAt?: string;
  }[];
}

let root: string;
let configFile: string;
let dbUrl: string;

/** A tar.gz backup set with a SHA256SUMS inside, made with the system tar and sha256sum. */
async function makeTarSet(
  dir: string,
  name: string,
  files: Record<string, string>,
  damage?: (staging: string) => Promise<void>,
): Promise<string> {
  const staging = path.join(root, 'staging', name);
  await writeTree(staging, files);
  const sums = await run('sha256sum', Object.keys(files).sort(), staging);
  await writeFile(path.join(staging, 'SHA256SUMS'), sums);
  if (damage) await damage(staging);
  await mkdir(dir, { recursive: true });
  const archive = path.join(dir, `${name}.tar.gz`);
  await run('tar', ['-czf', archive, '-C', staging, '.']);
  return archive;
}

const goodFiles = {
  'docs/a.txt': 'alpha\n',
  'docs/b.txt': 'bravo '.repeat(500),
  'mail/c.eml': 'charlie\n'.repeat(100),
};

beforeAll(async () => {
  root = await tempDir('restore-drill-cli-');
  dbUrl = await createTestDatabase();
  await makeTarSet(path.join(root, 'good'), '2026-11-25', goodFiles);
  await makeTarSet(path.join(root, 'good'), '2026-11-26', goodFiles);
  await makeTarSet(path.join(root, 'flipped'), '2026-11-26', goodFiles, async (staging) => {
    const file = path.join(staging, 'docs/b.txt');
    const bytes = await readFile(file);
    bytes[100] = (bytes[100] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
  });
  await mkdir(path.join(root, 'evil'), { recursive: true });
  await pythonTar(
    path.join(root, 'evil', '2026-11-26.tar.gz'),
    [
      { name: 'ok.txt', type: 'file', data: 'fine' },
      { name: '../escape.txt', type: 'file', data: 'owned' },
    ],
    { gzip: true },
  );
  // An old set, to fail the RPO target.
  await makeTarSet(path.join(root, 'old'), '2026-01-01', goodFiles);
  const old = new Date(Date.now() - 10 * 86_400_000);
  await utimes(path.join(root, 'old', '2026-01-01.tar.gz'), old, old);
  configFile = path.join(root, 'restore-drill.yaml');
  await writeFile(
    configFile,
    `database:
  url: \${env:RD_TEST_DB_URL}
scratch:
  root: scratch
drills:
  - name: good
    source: { kind: tar, path: good/*.tar.gz }
    checks:
      manifest: { format: sha256sum, path: SHA256SUMS }
      extraFiles: fail
      files: { exact: 3 }
      bytes: { min: 100 }
    targets: { rto: 15m, rpo: 26h }
  - name: flipped
    source: { kind: tar, path: flipped/*.tar.gz }
    checks:
      manifest: { path: SHA256SUMS }
  - name: evil
    source: { kind: tar, path: evil/*.tar.gz }
  - name: missing
    source: { kind: directory, path: nowhere/* }
  - name: stale
    source: { kind: tar, path: old/*.tar.gz }
    targets: { rpo: 26h }
`,
  );
});

const env = () => ({ RD_TEST_DB_URL: dbUrl });

describe('restore-drill run', () => {
  it('passes a good set, with every configured check in the JSON and only JSON on stdout', async () => {
    const result = await cli(['run', '--config', configFile, '--drill', 'good', '--json'], {
      env: env(),
    });
    expect(result.exitCode).toBe(0);
    const output = JSON.parse(result.stdout) as RunJson;
    expect(output.runs).toHaveLength(1);
    const [runJson] = output.runs;
    expect(runJson).toMatchObject({
      drill: 'good',
      verdict: 'passed',
      set: { path: path.join(root, 'good', '2026-11-26.tar.gz') },
    });
    expect(runJson!.set!.size).toBeGreaterThan(0);
    expect(Date.parse(runJson!.set!.mtime!)).not.toBeNaN();
    expect(runJson!.checks.map((check) => [check.name, check.verdict])).toEqual([
      ['restore', 'passed'],
      ['manifest', 'passed'],
      ['extraFiles', 'passed'],
      ['files', 'passed'],
      ['bytes', 'passed'],
      ['rpo', 'passed'],
      ['rto', 'passed'],
    ]);
    expect(result.stderr).toContain('"msg":"drill finished"');
  });

  describe('drills that fail, run in one process', () => {
    type Run = RunJson['runs'][number];
    let runs: Run[];
    const runOf = (drill: string): Run => runs.find((run) => run.drill === drill)!;
    beforeAll(async () => {
      const result = await runDrills<Run>(configFile, ['flipped', 'evil', 'stale'], { env: env() });
      expect(result.exitCode).toBe(1);
      runs = result.runs;
    });

    it('fails a set with one flipped byte, names the file, and shows it in history', async () => {
      const runJson = runOf('flipped');
      expect(runJson.verdict).toBe('failed');
      const manifest = runJson.checks.find((check) => check.name === 'manifest');
      expect(manifest?.verdict).toBe('failed');
      expect(manifest?.detail).toContain('docs/b.txt');
      expect(manifest?.findings?.[0]).toMatchObject({ item: 'docs/b.txt', problem: 'changed' });

      const history = await cli(
        ['history', '--config', configFile, '--drill', 'flipped', '--json'],
        { env: env() },
      );
      expect(history.exitCode).toBe(0);
      const [past] = (JSON.parse(history.stdout) as RunJson).runs;
      expect(past).toMatchObject({ runId: runJson.runId, verdict: 'failed' });
      expect(Date.parse(past!.startedAt!)).toBeLessThanOrEqual(Date.parse(past!.finishedAt!));
      const human = await cli(['history', '--config', configFile, '--drill', 'flipped'], {
        env: env(),
      });
      expect(human.stdout).toContain('FAIL');
      expect(human.stdout).toContain('docs/b.txt');
    });

    it('refuses a tar entry that escapes scratch: the run fails and the restore check names the entry', async () => {
      const runJson = runOf('evil');
      expect(runJson.verdict).toBe('failed');
      const restore = runJson.checks.find((check) => check.name === 'restore');
      expect(restore?.verdict).toBe('failed');
      expect(restore?.detail).toContain('../escape.txt');
      await expect(readFile(path.join(root, 'scratch', 'escape.txt'))).rejects.toThrow();
      await expect(readFile(path.join(root, 'escape.txt'))).rejects.toThrow();
    });

    it('fails a set older than its RPO target', () => {
      const rpo = runOf('stale').checks.find((check) => check.name === 'rpo');
      expect(rpo?.verdict).toBe('failed');
    });
  });

  it('records a drill whose backups are missing as error with a one-line cause, and still runs the others', async () => {
    const result = await cli(
      ['run', '--config', configFile, '--drill', 'missing', '--drill', 'good', '--json'],
      { env: env() },
    );
    expect(result.exitCode).toBe(1);
    const runs = (JSON.parse(result.stdout) as RunJson).runs;
    expect(runs.map((r) => [r.drill, r.verdict])).toEqual([
      ['missing', 'error'],
      ['good', 'passed'],
    ]);
    expect(runs[0]!.set).toBeNull();
    expect(runs[0]!.cause).toContain('nowhere');
    expect(runs[0]!.cause).not.toContain('\n');
  });

  it('fails a restore that brings nothing back when no check says the set should be empty', async () => {
    const dir = path.join(root, 'hollow');
    await mkdir(path.join(dir, 'sets'), { recursive: true });
    await run('tar', ['-czf', path.join(dir, 'sets', '2026-11-26.tar.gz'), '-T', '/dev/null']);
    const config = path.join(dir, 'restore-drill.yaml');
    const source = `{ kind: tar, path: '${path.join(dir, 'sets', '*.tar.gz')}' }`;
    await writeFile(
      config,
      `database:\n  url: \${env:RD_TEST_DB_URL}\nscratch:\n  root: ${path.join(dir, 'scratch')}\ndrills:\n` +
        `  - { name: hollow, source: ${source} }\n` +
        `  - { name: meant-empty, source: ${source}, checks: { files: { exact: 0 } } }\n`,
    );
    const { exitCode, runs, stderr } = await runDrills<RunJson['runs'][number]>(
      config,
      ['hollow', 'meant-empty'],
      { env: env() },
    );
    expect(exitCode, stderr).toBe(1);
    expect(runs.map((r) => [r.verdict, r.cause])).toEqual([
      [
        'failed',
        'verify.nothing-verified: nothing could be verified: the restore brought back no file, link or table, and no check says the set should be empty',
      ],
      ['passed', null],
    ]);
  });

  it('prints a short human summary without --json', async () => {
    const result = await cli(['run', '--config', configFile, '--drill', 'flipped'], { env: env() });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/^FAIL\s+flipped/m);
    expect(result.stdout).toContain('manifest:');
    expect(result.stdout).toContain('docs/b.txt');
  });

  it('treats an unknown --drill as a usage error (exit 2)', async () => {
    const result = await cli(['run', '--config', configFile, '--drill', 'nope'], { env: env() });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`unknown drill 'nope'`);
  });

  it('replays an earlier run: the same set and items again', async () => {
    const first = (
      JSON.parse(
        (await cli(['run', '--config', configFile, '--drill', 'good', '--json'], { env: env() }))
          .stdout,
      ) as RunJson
    ).runs[0]!;
    const replay = await cli(
      [
        'run',
        '--config',
        configFile,
        '--drill',
        'good',
        '--replay',
        first.runId.slice(0, 8),
        '--json',
      ],
      { env: env() },
    );
    expect(replay.exitCode).toBe(0);
    const again = (JSON.parse(replay.stdout) as RunJson).runs[0]!;
    expect(again.set).toEqual(first.set);
    const shown = JSON.parse(
      (
        await cli(['show', again.runId, '--config', configFile, '--json', '--items'], {
          env: env(),
        })
      ).stdout,
    ) as {
      replayOf: string;
      items: { path: string }[];
    };
    expect(shown.replayOf).toBe(first.runId);
    expect(shown.items.map((item) => item.path).sort()).toEqual(
      ['SHA256SUMS', ...Object.keys(goodFiles)].sort(),
    );
  });
});

describe('restore-drill config errors and validate', () => {
  it('exits 2 and prints every problem with file, line and path', async () => {
    const bad = path.join(root, 'bad.yaml');
    await writeFile(
      bad,
      'drills:\n  - name: a\n    source: { kind: ftp, path: /x }\n  - name: b\n    timeout: soon\n    source: { kind: tar }\n',
    );
    const result = await cli(['run', '--config', bad]);
    expect(result.exitCode).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(
        /bad\.yaml:3 drills\[0\]\.source\.kind: 'ftp' is not a source kind; expected one of .*'tar'/,
      ),
      expect.stringMatching(/bad\.yaml:5 drills\[1\]\.timeout: expected a duration/),
      expect.stringMatching(/bad\.yaml:6 drills\[1\]\.source\.path: missing/),
    ]);
  });

  it('validate prints the resolved drills without the values of ${env:} references', async () => {
    const result = await cli(['validate', '--config', configFile], { env: env() });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('good');
    expect(result.stdout).toContain('${env:RD_TEST_DB_URL}');
    expect(result.stdout).not.toContain(dbUrl);
    const json = await cli(['validate', '--config', configFile, '--json'], { env: env() });
    expect(json.stdout).not.toContain(dbUrl);
  });

  it('validate fails with exit 2 when a referenced variable is unset', async () => {
    const result = await cli(['validate', '--config', configFile], { env: {} });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('database.url: environment variable RD_TEST_DB_URL');
  });

  it('answers --help on every command and --version', async () => {
    for (const verb of ['run', 'history', 'show', 'validate']) {
      const result = await cli([verb, '--help']);
      expect(result.exitCode, verb).toBe(0);
      expect(result.stdout, verb).toContain('--config');
    }
    const top = await cli(['--help']);
    expect(top.stdout).toContain('Exit codes');
    // `--version` alone answers without loading the command line parser: same answer as commander's.
    const { version: packageVersion } = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V']) {
      const version = await cli([flag]);
      expect(version.exitCode, flag).toBe(0);
      expect(version.stdout.trim(), flag).toBe(packageVersion);
    }
    expect((await cli(['--version', '--config', configFile])).stdout.trim()).toBe(packageVersion);
  });

  it('rejects an unknown option as a usage error', async () => {
    expect((await cli(['run', '--bogus'])).exitCode).toBe(2);
    expect(
      (await cli(['history', '--since', 'yesterday', '--config', configFile], { env: env() }))
        .exitCode,
    ).toBe(2);
  });
});
