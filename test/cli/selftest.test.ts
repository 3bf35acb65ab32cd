import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, writeTree } from '../helpers/artefacts.js';
import { cli } from '../helpers/cli.js';
import { pgDump, query, scratchDatabases } from '../helpers/pg-dumps.js';
import { createResticRepo, TEST_RESTIC_PASSWORD, type ResticRepo } from '../helpers/restic-repo.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

interface SelftestJson {
  id: string;
  drill: string;
  verdict: 'passed' | 'failed' | 'error';
  cause: string | null;
  durationMs: number;
  recorded: boolean;
  damages: { kind: string; detected: boolean; by: string[]; target: string; finding?: string }[];
}

let root: string;
let configFile: string;
let dbUrl: string;
let adminUrl: string;
let restic: ResticRepo;

const FILES = {
  'data/a.txt': 'alpha alpha alpha\n',
  'data/b.txt': 'bravo bravo bravo\n',
  'data/orders.csv': 'id,item,qty\n1,apple,3\n2,"pear, green",5\n3,plum,7\n4,fig,11\n',
};

/** A folder set with a link and its SHA256SUMS (regular files only), made as `sha256sum` makes it. */
async function makeSet(dir: string): Promise<void> {
  await writeTree(dir, FILES);
  await run('ln', ['-s', 'a.txt', path.join(dir, 'data', 'current')]);
  await writeFile(path.join(dir, 'SHA256SUMS'), await run('sha256sum', Object.keys(FILES), dir));
}

beforeAll(async () => {
  root = await tempDir('restore-drill-selftest-');
  dbUrl = await createTestDatabase();
  adminUrl = inject('postgres').adminUrl;

  const plain = path.join(root, 'plain', 'set-1');
  await makeSet(plain);
  // The fully checked set: restore-drill's manifest (links, record counts) written beside the set, then put in it.
  const full = path.join(root, 'full', 'set-1');
  await makeSet(full);
  const made = await cli(['manifest', full, '--out', path.join(root, 'full.manifest.json')]);
  expect(made.exitCode, made.stderr).toBe(0);
  await run('mv', [path.join(root, 'full.manifest.json'), path.join(full, 'manifest.json')]);
  await mkdir(path.join(root, 'archives'));
  await run('tar', ['-czf', path.join(root, 'archives', 'set-1.tar.gz'), '-C', plain, '.']);
  restic = await createResticRepo();
  await restic.backup(['.'], { cwd: plain });

  // A small database dumped with the real pg_dump, with a manifest of its row counts and digests.
  const shop = await createTestDatabase();
  await query(
    shop,
    `create table items (id integer primary key, name text not null, qty integer not null);
     insert into items select n, 'item ' || n, n * 3 from generate_series(1, 40) as n;
     create table notes (id integer generated always as identity primary key, body text);
     insert into notes (body) select 'note ' || n from generate_series(1, 12) as n;`,
  );
  await mkdir(path.join(root, 'dumps'));
  await pgDump(shop, 'c', path.join(root, 'dumps', 'shop-2026-12-01.dump'));
  const dbManifest = await cli([
    'manifest',
    '--database',
    shop,
    '--out',
    path.join(root, 'shop.manifest.json'),
  ]);
  expect(dbManifest.exitCode, dbManifest.stderr).toBe(0);

  const server = `scratchServer: { url: "${adminUrl}" }`;
  configFile = path.join(root, 'restore-drill.yaml');
  await writeFile(
    configFile,
    `database:
  url: \${env:RD_TEST_DB_URL}
scratch:
  root: scratch
drills:
  - name: checksums-only
    source: { kind: directory, path: plain/set-* }
    checks:
      manifest: { format: sha256sum, path: SHA256SUMS }
      extraFiles: ignore
  - name: fully-checked
    source: { kind: directory, path: full/set-* }
    checks:
      manifest: { format: restore-drill, path: manifest.json }
      extraFiles: fail
      records: { files: 'data/*.csv', from: manifest }
  - name: archive
    source: { kind: tar, path: archives/*.tar.gz }
    checks:
      manifest: { format: sha256sum, path: SHA256SUMS }
      extraFiles: fail
  - name: snapshot
    source:
      kind: restic
      repository: ${restic.repository}
      password: \${env:RD_RESTIC_PASSWORD}
      env: { RESTIC_CACHE_DIR: ${restic.cacheDir} }
    checks:
      manifest: { format: sha256sum, path: SHA256SUMS }
  - name: db-counts-only
    source: { kind: postgres, path: dumps/*.dump, ${server} }
    checks:
      sql:
        - { name: has-items, query: "select count(*) > 0 from items", expect: true }
  - name: db-tables
    source: { kind: postgres, path: dumps/*.dump, ${server} }
    checks:
      manifest: { format: restore-drill, path: ${path.join(root, 'shop.manifest.json')} }
      tables: { from: manifest }
  - name: broken
    source: { kind: directory, path: plain/set-* }
    checks:
      files: { min: 100 }
`,
  );
}, 120_000);

afterAll(async () => {
  await restic?.cleanup();
  if (root) await rm(root, { recursive: true, force: true });
});

async function selftest(drill: string, ...more: string[]) {
  return cli(['selftest', '--config', configFile, '--drill', drill, ...more], {
    env: { RD_TEST_DB_URL: dbUrl, RD_RESTIC_PASSWORD: TEST_RESTIC_PASSWORD },
  });
}

async function selftestJson(
  drill: string,
): Promise<{ exitCode: number | null; json: SelftestJson }> {
  const result = await selftest(drill, '--json');
  return { exitCode: result.exitCode, json: JSON.parse(result.stdout) as SelftestJson };
}

const byKind = (json: SelftestJson) =>
  Object.fromEntries(json.damages.map((damage) => [damage.kind, damage.by]));

describe('restore-drill selftest', { timeout: 60_000 }, () => {
  it('a folder drill checked only by sha256sum with extraFiles: ignore misses an added file and a changed link target (exit 1), one line per kind', async () => {
    const result = await selftest('checksums-only');
    expect(result.exitCode, result.stderr).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^FAILED {2}selftest checksums-only {2}[0-9a-f]{8} {2}2 of 7 kinds of damage undetected/,
    );
    expect(lines.slice(1).map((line) => line.trim().split(/\s+/).slice(0, 4).join(' '))).toEqual([
      'flipped-byte detected by checks.manifest',
      'truncated-file detected by checks.manifest',
      'deleted-file detected by checks.manifest',
      'added-file UNDETECTED this drill',
      'changed-link-target UNDETECTED this drill',
      'deleted-rows detected by checks.manifest',
      'updated-value detected by checks.manifest',
    ]);
    expect(result.stdout).toContain(
      'this drill would not notice an added file: set checks.extraFiles: fail (the manifest is there; extra files are let through)',
    );
    expect(result.stdout).toContain('this drill would not notice a changed link target');
    // Nothing left in scratch; the set itself untouched.
    expect(await readdir(path.join(root, 'scratch'))).toEqual([]);
    expect(
      await run('sha256sum', ['-c', 'SHA256SUMS'], path.join(root, 'plain', 'set-1')),
    ).toContain('data/orders.csv: OK');
  });

  it('a fully checked folder drill detects every kind (exit 0) and its record joins the verified chain', async () => {
    const { exitCode, json } = await selftestJson('fully-checked');
    expect(exitCode, JSON.stringify(json)).toBe(0);
    expect(json).toMatchObject({
      drill: 'fully-checked',
      verdict: 'passed',
      cause: null,
      recorded: true,
    });
    expect(json.damages.every((damage) => damage.detected)).toBe(true);
    expect(byKind(json)).toMatchObject({
      'added-file': expect.arrayContaining(['checks.extraFiles']) as unknown,
      'changed-link-target': ['checks.manifest'],
      'deleted-rows': expect.arrayContaining(['checks.records']) as unknown,
    });
    expect(json.damages).toHaveLength(7);

    const verified = await cli(['evidence', 'verify', '--json', '--config', configFile], {
      env: { RD_TEST_DB_URL: dbUrl, RD_RESTIC_PASSWORD: TEST_RESTIC_PASSWORD },
    });
    expect(verified.exitCode, verified.stdout).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ intact: true });
    const stored = await query(
      dbUrl,
      `select drill, verdict, undetected from selftests where run_id = '${json.id}'`,
    );
    expect(stored).toEqual([{ drill: 'fully-checked', verdict: 'passed', undetected: 0 }]);
  });

  it('a postgres drill without a tables check names deleted rows and an updated value; with tables from a digest manifest it catches both', async () => {
    const loose = await selftestJson('db-counts-only');
    expect(loose.exitCode).toBe(1);
    expect(loose.json.damages.map((damage) => [damage.kind, damage.detected])).toEqual([
      ['deleted-rows', false],
      ['updated-value', false],
    ]);
    expect(loose.json.damages[0]?.finding).toBe(
      'this drill would not notice deleted rows: add checks.tables',
    );
    expect(loose.json.damages[0]?.target).toBe('table public.items (4 of 40 rows)');

    const strict = await selftestJson('db-tables');
    expect(strict.exitCode, JSON.stringify(strict.json)).toBe(0);
    expect(byKind(strict.json)).toEqual({
      'deleted-rows': ['checks.tables'],
      'updated-value': ['checks.tables'],
    });
    // Its own scratch databases are gone (other files' runs may have theirs open meanwhile).
    expect(
      (await scratchDatabases(adminUrl)).filter((name) =>
        /^restore_drill_db_(counts_only|tables)_/.test(name),
      ),
    ).toEqual([]);
  });

  it.each(['archive', 'snapshot'])(
    '%s: damage to what the source restored is judged by the drill’s checks',
    async (name) => {
      const { exitCode, json } = await selftestJson(name);
      // The link is backed up too, and sha256sum does not list links: one kind goes unnoticed.
      expect(exitCode, JSON.stringify(json)).toBe(1);
      expect(
        json.damages.filter((damage) => !damage.detected).map((damage) => damage.kind),
      ).toEqual(['changed-link-target']);
      expect(byKind(json)).toMatchObject({
        'flipped-byte': ['checks.manifest'],
        'truncated-file': ['checks.manifest'],
        'deleted-file': ['checks.manifest'],
      });
      // extraFiles defaults to fail beside a manifest.
      expect(json.damages.find((damage) => damage.kind === 'added-file')?.by).toEqual([
        'checks.extraFiles',
      ]);
    },
  );

  it('the report shows per drill which kinds of damage its latest selftest caught and missed', async () => {
    const env = { RD_TEST_DB_URL: dbUrl, RD_RESTIC_PASSWORD: TEST_RESTIC_PASSWORD };
    const json = path.join(root, 'report.json');
    const html = path.join(root, 'report.html');
    for (const [format, out] of [
      ['json', json],
      ['html', html],
    ] as const) {
      const made = await cli(['report', '--config', configFile, '--format', format, '--out', out], {
        env,
      });
      expect(made.exitCode, made.stderr).toBe(0);
    }
    const summary = JSON.parse(await readFile(json, 'utf8')) as {
      drills: { name: string; selftest?: { verdict: string; undetected: string[] } | null }[];
    };
    const selftestOf = (name: string) =>
      summary.drills.find((drill) => drill.name === name)?.selftest;
    expect(selftestOf('checksums-only')).toMatchObject({
      verdict: 'failed',
      undetected: ['added-file', 'changed-link-target'],
    });
    expect(selftestOf('fully-checked')).toMatchObject({ verdict: 'passed', undetected: [] });
    const page = await readFile(html, 'utf8');
    expect(page).toContain('would not notice added-file, changed-link-target');
    expect(page).toContain(
      'catches flipped-byte, truncated-file, deleted-file, added-file, changed-link-target, deleted-rows, updated-value',
    );
  });

  it('a drill whose undamaged restore fails is an error (exit 1); an unknown drill is a usage error (exit 2)', async () => {
    const { exitCode, json } = await selftestJson('broken');
    expect(exitCode).toBe(1);
    expect(json.verdict).toBe('error');
    expect(json.cause).toMatch(
      /^the undamaged restore does not pass \(check\.failed: files: .*\): a selftest needs a drill that passes$/,
    );
    expect(json.damages).toEqual([]);

    const unknown = await selftest('nope');
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr.trim()).toMatch(/^restore-drill: unknown drill 'nope'; drills in /);
  });
});
