import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { run as runTool } from '../helpers/artefacts.js';
import { cli, runDrills } from '../helpers/cli.js';
import {
  createPgbenchDatabase,
  flipMiddle,
  pgDump,
  query,
  scratchDatabases,
} from '../helpers/pg-dumps.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

interface Check {
  name: string;
  verdict: string;
  expected: unknown;
  actual: unknown;
  detail: string;
  findings?: { item: string; problem: string; expected?: unknown; actual?: unknown }[];
}
interface Run {
  runId: string;
  drill: string;
  verdict: string;
  cause: string | null;
  checks: Check[];
  restored: { files: number; bytes: number; tables?: number };
}

let root: string;
let config: string;
let adminUrl: string;
let lastPassSource: string;

/** Rows kept in pgbench_accounts. */
const ACCOUNTS = 1_000;

async function runDrill(
  drill: string,
): Promise<{ exitCode: number | null; run: Run; stderr: string }> {
  const { exitCode, runs, stderr } = await runDrills<Run>(config, [drill]);
  return { exitCode, run: runs[0]!, stderr };
}

beforeAll(async () => {
  root = await tempDir('restore-drill-pg-drill-');
  adminUrl = inject('postgres').adminUrl;
  const evidence = await createTestDatabase();

  // A good dump with a manifest written at backup time by `restore-drill manifest --database`.
  const shop = await createPgbenchDatabase();
  // A dump with bytes flipped in the middle, taken while pgbench_accounts holds pgbench's
  // 100,000 rows: the middle of the file is inside that table's compressed data.
  await mkdir(path.join(root, 'corrupt'));
  const corrupt = await pgDump(shop, 'c', path.join(root, 'corrupt', 'shop-2026-11-27.dump'));
  await flipMiddle(corrupt);
  // A thousand accounts tell the other stories as well as 100,000, faster.
  await query(shop, `delete from pgbench_accounts where aid > ${ACCOUNTS}`);
  await mkdir(path.join(root, 'good'));
  const made = await cli([
    'manifest',
    '--database',
    shop,
    '--out',
    path.join(root, 'good', 'shop.manifest.json'),
  ]);
  expect(made.exitCode, made.stderr).toBe(0);
  await pgDump(shop, 'c', path.join(root, 'good', 'shop-2026-11-27.dump'));

  // Plain dumps damaged in their SQL and in their COPY data.
  const plain = await readFile(await pgDump(shop, 'p', path.join(root, 'tmp.sql')), 'utf8');
  await mkdir(path.join(root, 'garbled'));
  await writeFile(
    path.join(root, 'garbled', 'shop-2026-11-27.sql'),
    plain.replace(/^CREATE TABLE /m, 'CREATE TABLEAU '),
  );
  await mkdir(path.join(root, 'bad-row'));
  await writeFile(
    path.join(root, 'bad-row', 'shop-2026-11-27.sql'),
    plain.replace(/^(COPY public\.pgbench_accounts .*\n1\t1\t)0\t/m, '$1x\t'),
  );

  // Rows removed after the manifest was written, before the dump.
  await mkdir(path.join(root, 'shrunk'));
  await cp(
    path.join(root, 'good', 'shop.manifest.json'),
    path.join(root, 'shrunk', 'shop.manifest.json'),
  );
  const shrunk = await createTestDatabase();
  await pgDump(shop, 'c', path.join(root, 'tmp.dump'));
  await runTool('pg_restore', ['--no-owner', '-d', shrunk, path.join(root, 'tmp.dump')]);
  await query(shrunk, 'delete from pgbench_accounts where aid <= 25');
  await pgDump(shrunk, 'c', path.join(root, 'shrunk', 'shop-2026-11-27.dump'));

  // One value updated after the manifest was written, before the dump: same counts, other content.
  await mkdir(path.join(root, 'updated'));
  await cp(
    path.join(root, 'good', 'shop.manifest.json'),
    path.join(root, 'updated', 'shop.manifest.json'),
  );
  const updated = await createTestDatabase();
  await runTool('pg_restore', ['--no-owner', '-d', updated, path.join(root, 'tmp.dump')]);
  await query(updated, 'update pgbench_accounts set abalance = 7 where aid = 42');
  await pgDump(updated, 'c', path.join(root, 'updated', 'shop-2026-11-27.dump'));

  // Large objects in an uncompressed custom dump (-Z0: compressed outside pg_dump, say), whole
  // and with one byte of one object changed after the dump: nothing in the dump checks them.
  const docs = await createTestDatabase();
  await query(
    docs,
    `create table docs (id int primary key, body oid);
     insert into docs select i, lo_from_bytea(0, convert_to(repeat('blob' || i, 50), 'UTF8'))
       from generate_series(1, 5) as i`,
  );
  await mkdir(path.join(root, 'lo-good'));
  await mkdir(path.join(root, 'lo-changed'));
  const docsManifest = await cli([
    'manifest',
    '--database',
    docs,
    '--out',
    path.join(root, 'docs.manifest.json'),
  ]);
  expect(docsManifest.exitCode, docsManifest.stderr).toBe(0);
  const docsDump = await pgDump(docs, 'c', path.join(root, 'lo-good', 'docs-2026-11-27.dump'), [
    '-Z0',
  ]);
  const bytes = await readFile(docsDump);
  const at = bytes.indexOf('blob3blob3');
  expect(at).toBeGreaterThan(0);
  bytes[at + 1] = bytes[at + 1]! ^ 0x20;
  await writeFile(path.join(root, 'lo-changed', 'docs-2026-11-27.dump'), bytes);

  // A source whose later dump loses rows: judged against the last passing run.
  lastPassSource = await createTestDatabase();
  await runTool('pg_restore', [
    '--no-owner',
    '-d',
    lastPassSource,
    path.join(root, 'good', 'shop-2026-11-27.dump'),
  ]);
  await mkdir(path.join(root, 'nightly'));
  await pgDump(lastPassSource, 'd', path.join(root, 'nightly', 'shop-2026-11-26'));

  config = path.join(root, 'restore-drill.yaml');
  const server = `scratchServer: { url: "${adminUrl}" }`;
  await writeFile(
    config,
    `database:
  url: ${evidence}
scratch:
  root: scratch
drills:
  - name: shop-good
    source: { kind: postgres, path: good/*.dump, ${server}, jobs: 2 }
    checks:
      manifest: { format: restore-drill, path: "${path.join(root, 'good', 'shop.manifest.json')}" }
      tables: { from: manifest }
      sql:
        - { name: accounts, query: "select count(*) from pgbench_accounts", expect: ${ACCOUNTS} }
        - { name: balances, query: "select sum(abalance) from pgbench_accounts", expect: { min: 0, max: 0 } }
    targets: { rpo: 3650d }
  - name: shop-shrunk
    source: { kind: postgres, path: shrunk/*.dump, ${server} }
    checks:
      manifest: { format: restore-drill, path: "${path.join(root, 'shrunk', 'shop.manifest.json')}" }
      tables: { from: manifest }
  - name: shop-updated
    source: { kind: postgres, path: updated/*.dump, ${server} }
    checks:
      manifest: { format: restore-drill, path: "${path.join(root, 'updated', 'shop.manifest.json')}" }
      tables: { from: manifest }
  - name: shop-corrupt
    source: { kind: postgres, path: corrupt/*.dump, ${server} }
    checks: { tables: { from: last-pass } }
  - name: shop-missing
    source: { kind: postgres, path: missing/*.dump, ${server} }
  - name: shop-plain-garbled
    source: { kind: postgres, path: garbled/*.sql, ${server} }
  - name: shop-plain-bad-row
    source: { kind: postgres, path: bad-row/*.sql }
  - name: shop-nightly
    source: { kind: postgres, path: nightly/shop-*, format: directory, ${server} }
    checks: { tables: { from: last-pass, tolerance: 1% } }
  - name: shop-sampled
    source: { kind: postgres, path: good/*.dump, ${server} }
    sample: { size: 2 }
    checks:
      manifest: { format: restore-drill, path: "${path.join(root, 'good', 'shop.manifest.json')}" }
      tables: { from: manifest }
  - name: docs-lo-good
    source: { kind: postgres, path: lo-good/*.dump, ${server} }
    checks:
      manifest: { format: restore-drill, path: "${path.join(root, 'docs.manifest.json')}" }
      tables: { from: manifest }
  - name: docs-lo-changed
    source: { kind: postgres, path: lo-changed/*.dump, ${server} }
    checks:
      manifest: { format: restore-drill, path: "${path.join(root, 'docs.manifest.json')}" }
      tables: { from: manifest }
  - name: shop-manifest-only
    source: { kind: postgres, path: shrunk/*.dump, ${server} }
    checks:
      manifest: { format: restore-drill, path: "${path.join(root, 'shrunk', 'shop.manifest.json')}" }
`,
  );
});

describe('postgres drills end to end', () => {
  it('passes on a good dump: counts match the manifest, SQL assertions hold, the scratch database is gone', async () => {
    const { exitCode, run, stderr } = await runDrill('shop-good');
    expect(exitCode, stderr).toBe(0);
    expect(run.verdict).toBe('passed');
    expect(run.restored.tables).toBe(4);
    expect(run.checks.map((check) => [check.name, check.verdict])).toEqual([
      ['restore', 'passed'],
      ['manifest', 'passed'],
      ['extraFiles', 'passed'],
      ['tables', 'passed'],
      ['sql:accounts', 'passed'],
      ['sql:balances', 'passed'],
      ['rpo', 'passed'],
    ]);
    expect(run.checks.find((check) => check.name === 'tables')?.detail).toMatch(
      /^4 tables match manifest .* \(4 content digests equal\)$/,
    );
    expect(
      (await scratchDatabases(adminUrl)).filter((name) => name.startsWith('restore_drill_shop_')),
    ).toEqual([]);
  });

  describe('drills that fail or error, run in one process', () => {
    const DRILLS = [
      'shop-shrunk',
      'shop-updated',
      'shop-manifest-only',
      'shop-missing',
      'shop-plain-garbled',
      'shop-plain-bad-row',
      'docs-lo-good',
      'docs-lo-changed',
    ];
    let runs: Run[];
    const runOf = (drill: string): Run => runs.find((run) => run.drill === drill)!;
    beforeAll(async () => {
      const result = await runDrills<Run>(config, DRILLS);
      expect(result.exitCode, result.stderr).toBe(1);
      runs = result.runs;
    }, 60_000);

    it('fails naming the table whose rows were removed after the manifest was written', () => {
      const run = runOf('shop-shrunk');
      expect(run.verdict).toBe('failed');
      expect(run.cause).toMatch(
        /^check\.failed: tables: 1 table differs from manifest .*: fewer-rows 'table public\.pgbench_accounts'$/,
      );
      const tables = run.checks.find((check) => check.name === 'tables');
      expect(tables?.findings).toEqual([
        {
          item: 'table public.pgbench_accounts',
          problem: 'fewer-rows',
          expected: { rows: ACCOUNTS },
          actual: { rows: ACCOUNTS - 25 },
        },
      ]);
      // The manifest check leaves row counts to the tables check: one finding, not two.
      expect(run.checks.find((check) => check.name === 'manifest')?.findings).toBeUndefined();
    });

    it('fails on the content digest when one value was updated after the manifest, the row count unchanged', () => {
      const run = runOf('shop-updated');
      expect(run.verdict).toBe('failed');
      expect(run.cause).toMatch(
        /^check\.failed: tables: 1 table differs from manifest .*: changed-content 'table public\.pgbench_accounts'$/,
      );
      const tables = run.checks.find((check) => check.name === 'tables');
      expect(tables?.findings).toEqual([
        {
          item: 'table public.pgbench_accounts',
          problem: 'changed-content',
          expected: { digest: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown },
          actual: { digest: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown, rows: ACCOUNTS },
        },
      ]);
      expect((tables?.expected as { digests?: number }).digests).toBe(4);
    });

    it('counts and digests large objects: a whole dump passes, one changed byte in an object fails naming them', () => {
      const good = runOf('docs-lo-good');
      expect(good.verdict, good.cause ?? '').toBe('passed');
      expect(good.checks.find((check) => check.name === 'tables')?.detail).toMatch(
        /^2 tables match manifest .* \(2 content digests equal\)$/,
      );
      const changed = runOf('docs-lo-changed');
      expect(changed.verdict).toBe('failed');
      expect(changed.checks.find((check) => check.name === 'tables')?.findings).toEqual([
        {
          item: 'table pg_catalog.pg_largeobject_metadata',
          problem: 'changed-content',
          expected: { digest: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown },
          actual: { digest: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown, rows: 5 },
        },
      ]);
    });

    it('fails in the manifest check when no tables check is configured', () => {
      const run = runOf('shop-manifest-only');
      expect(run.verdict).toBe('failed');
      expect(run.checks.find((check) => check.name === 'manifest')?.findings).toEqual([
        {
          item: 'table public.pgbench_accounts',
          problem: 'rows-differ',
          expected: { rows: ACCOUNTS },
          actual: { rows: ACCOUNTS - 25 },
        },
      ]);
    });

    it('fails a plain dump whose SQL is garbled (psql on the scratch server), naming the line', () => {
      const run = runOf('shop-plain-garbled');
      expect(run.verdict).toBe('failed');
      expect(run.cause).toMatch(
        /^restore\.damaged: restore: backup damaged: ERROR: syntax error at or near "TABLEAU" at entry line \d+ in .*garbled\/shop-2026-11-27\.sql;/,
      );
    });

    it('fails a plain dump whose COPY data is damaged (embedded PostgreSQL), naming the table and row', () => {
      const run = runOf('shop-plain-bad-row');
      expect(run.verdict).toBe('failed');
      expect(run.cause).toMatch(
        /^restore\.damaged: .*invalid input syntax for type integer: "x" \(COPY pgbench_accounts, line 1, column abalance: "x"\)/,
      );
    });

    it('errors naming the missing dump folder', () => {
      const run = runOf('shop-missing');
      expect(run.verdict).toBe('error');
      expect(run.cause).toMatch(
        /^source\.unreachable: cannot list backup sets of 'missing\/\*\.dump': .*missing: no such file or directory$/,
      );
    });
  });

  it('fails naming the damaged dump, keeps pg_restore as evidence, and leaves no scratch database', async () => {
    const { exitCode, run } = await runDrill('shop-corrupt');
    expect(exitCode).toBe(1);
    expect(run.verdict).toBe('failed');
    expect(run.cause).toMatch(
      /^restore\.damaged: restore: backup damaged: could not uncompress data.* in .*corrupt\/shop-2026-11-27\.dump; restored 0 files before it/,
    );
    const show = await cli(['show', run.runId, '--config', config, '--json']);
    const shown = JSON.parse(show.stdout) as { commands: { exitCode: number | null }[] };
    expect(shown.commands.map((command) => command.exitCode)).toEqual([0, 1]);
    expect(
      (await scratchDatabases(adminUrl)).filter((name) => name.startsWith('restore_drill_shop_')),
    ).toEqual([]);
  });

  it('compares with the last passing run: a baseline first, then a later dump missing rows fails naming the table', async () => {
    const first = await runDrill('shop-nightly');
    expect(first.run.verdict).toBe('passed');
    expect(first.run.checks.find((check) => check.name === 'tables')).toMatchObject({
      verdict: 'warning',
      detail: expect.stringMatching(/recorded as the baseline$/),
    });
    const second = await runDrill('shop-nightly');
    expect(second.run.verdict).toBe('passed');
    expect(second.run.checks.find((check) => check.name === 'tables')).toMatchObject({
      verdict: 'passed',
      expected: { from: 'last-pass', run: first.run.runId },
    });

    await query(lastPassSource, 'delete from pgbench_accounts where aid % 10 = 0');
    await pgDump(lastPassSource, 'd', path.join(root, 'nightly', 'shop-2026-11-27'));
    const third = await runDrill('shop-nightly');
    expect(third.run.verdict).toBe('failed');
    expect(third.run.checks.find((check) => check.name === 'tables')?.findings).toEqual([
      {
        item: 'table public.pgbench_accounts',
        problem: 'fewer-rows',
        expected: { rows: ACCOUNTS, tolerance: '1%', min: 990, max: 1_010 },
        actual: { rows: 900 },
      },
    ]);
  });

  it('replays a sampled run with the same tables, and a whole run whole', async () => {
    const tablesOf = (run: Run): string[] =>
      (
        (
          run.checks.find((check) => check.name === 'tables')?.actual as {
            tables: { name: string }[];
          }
        ).tables ?? []
      ).map((t) => t.name);
    const first = await runDrill('shop-sampled');
    expect(first.run.verdict).toBe('passed');
    expect(tablesOf(first.run)).toHaveLength(2);
    const replay = await cli(
      ['run', '--config', config, '--drill', 'shop-sampled', '--replay', first.run.runId, '--json'],
      { timeoutMs: 50_000 },
    );
    const again = (JSON.parse(replay.stdout) as { runs: Run[] }).runs[0]!;
    expect(again.verdict).toBe('passed');
    expect(tablesOf(again)).toEqual(tablesOf(first.run));

    const whole = await runDrill('shop-good');
    const wholeReplay = await cli(
      ['run', '--config', config, '--drill', 'shop-good', '--replay', whole.run.runId, '--json'],
      { timeoutMs: 50_000 },
    );
    const wholeAgain = (JSON.parse(wholeReplay.stdout) as { runs: Run[] }).runs[0]!;
    expect(wholeAgain.verdict).toBe('passed');
    expect(wholeAgain.restored.tables).toBe(4);
    expect(tablesOf(wholeAgain)).toEqual(tablesOf(whole.run));
  });
});
