import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildChecks } from '../../src/checks/registry.js';
import { ManifestLoader } from '../../src/checks/manifest-check.js';
import { TablesCheck, tablesCheckConfigSchema } from '../../src/checks/tables-check.js';
import { checksSchema } from '../../src/config/schema.js';
import type { RestoredTable } from '../../src/model/restore.js';
import { makeRecord } from '../helpers/run-records.js';
import { contextFor, makeBench, type Bench } from './fixture.js';

const benches: Bench[] = [];
afterEach(async () => {
  await Promise.all(benches.splice(0).map((bench) => bench.cleanup()));
});

const restored: RestoredTable[] = [
  { name: 'public.accounts', rows: 100_000 },
  { name: 'public.branches', rows: 1 },
  { name: 'public.history', rows: 0 },
];

/** A bench with a restore-drill manifest beside it listing `tables`, and a loader for it. */
async function manifestBench(
  tables: RestoredTable[] | undefined,
): Promise<{ bench: Bench; loader: ManifestLoader; manifest: string }> {
  const bench = await makeBench({});
  benches.push(bench);
  const manifest = path.join(bench.root, 'manifest.json');
  await writeFile(
    manifest,
    JSON.stringify({
      format: 'restore-drill-manifest',
      version: 1,
      createdAt: '2026-01-01T00:00:00Z',
      files: [],
      ...(tables ? { tables } : {}),
    }),
  );
  return {
    bench,
    loader: new ManifestLoader({ format: 'restore-drill', path: manifest }),
    manifest,
  };
}

function config(from: 'manifest' | 'last-pass', tolerance: string | number = 0) {
  return tablesCheckConfigSchema.parse({ from, tolerance });
}

describe('tables check from a manifest', () => {
  it('passes when every table has its expected row count', async () => {
    const { bench, loader, manifest } = await manifestBench(restored);
    const [result] = await new TablesCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench, { outcome: { files: [], tables: restored } }),
    );
    expect(result).toMatchObject({
      name: 'tables',
      verdict: 'passed',
      detail: `3 tables match manifest ${manifest}`,
    });
    expect(result?.actual).toEqual({ tables: restored });
  });

  it('fails naming a table with rows removed, with expected and actual counts', async () => {
    const { bench, loader } = await manifestBench(restored);
    const after = restored.map((table) =>
      table.name === 'public.accounts' ? { ...table, rows: 99_990 } : table,
    );
    const [result] = await new TablesCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench, { outcome: { files: [], tables: after } }),
    );
    expect(result?.verdict).toBe('failed');
    expect(result?.findings).toEqual([
      {
        item: 'table public.accounts',
        problem: 'fewer-rows',
        expected: { rows: 100_000 },
        actual: { rows: 99_990 },
      },
    ]);
    expect(result?.detail).toMatch(
      /^1 table differs from manifest .*: fewer-rows 'table public.accounts'$/,
    );
  });

  it('fails naming a table missing from the restore', async () => {
    const { bench, loader } = await manifestBench(restored);
    const [result] = await new TablesCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench, {
        outcome: { files: [], tables: restored.filter((table) => table.name !== 'public.history') },
      }),
    );
    expect(result?.findings).toEqual([
      { item: 'table public.history', problem: 'missing', expected: { rows: 0 }, actual: null },
    ]);
  });

  it('accepts drift within the tolerance and names counts outside it with the allowed range', async () => {
    const { bench, loader } = await manifestBench([{ name: 'public.accounts', rows: 1000 }]);
    const check = new TablesCheck(config('manifest', '5%'), { from: 'manifest', loader });
    const [within] = await check.run(
      await contextFor(bench, {
        outcome: { files: [], tables: [{ name: 'public.accounts', rows: 1049 }] },
      }),
    );
    expect(within?.verdict).toBe('passed');
    expect(within?.detail).toMatch(/within 5%$/);
    const [outside] = await check.run(
      await contextFor(bench, {
        outcome: { files: [], tables: [{ name: 'public.accounts', rows: 1051 }] },
      }),
    );
    expect(outside?.findings).toEqual([
      {
        item: 'table public.accounts',
        problem: 'more-rows',
        expected: { rows: 1000, tolerance: '5%', min: 950, max: 1050 },
        actual: { rows: 1051 },
      },
    ]);
  });

  it('judges only the sampled tables', async () => {
    const { bench, loader } = await manifestBench(restored);
    const [result] = await new TablesCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench, {
        outcome: { files: [], tables: [{ name: 'public.branches', rows: 1 }] },
        sampled: true,
        sample: new Set(['public.branches']),
      }),
    );
    expect(result).toMatchObject({ verdict: 'passed', expected: { tables: 1 } });
  });

  it('fails when the manifest lists no tables, or cannot be read', async () => {
    const { bench, loader, manifest } = await manifestBench(undefined);
    const [none] = await new TablesCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench, { outcome: { files: [], tables: restored } }),
    );
    expect(none).toMatchObject({
      verdict: 'failed',
      detail: `manifest ${manifest} lists no tables`,
    });
    const missing = new ManifestLoader({
      format: 'restore-drill',
      path: path.join(bench.root, 'nope.json'),
    });
    const [unread] = await new TablesCheck(config('manifest'), {
      from: 'manifest',
      loader: missing,
    }).run(await contextFor(bench, { outcome: { files: [], tables: restored } }));
    expect(unread?.detail).toMatch(/nope\.json cannot be used: cannot read it: not found$/);
  });

  it('fails when the source restored no database', async () => {
    const { bench, loader } = await manifestBench(restored);
    const [result] = await new TablesCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench, { outcome: { files: [] } }),
    );
    expect(result).toMatchObject({
      verdict: 'failed',
      detail: 'the source restored no database: a tables check needs a postgres source',
    });
  });

  it('is the one place row counts are judged when both it and the manifest check run', async () => {
    const { bench, manifest } = await manifestBench(restored);
    const checks = checksSchema.parse({
      manifest: { format: 'restore-drill', path: manifest },
      tables: { from: 'manifest' },
    });
    const context = await contextFor(bench, {
      outcome: { files: [], tables: restored.map((t) => ({ ...t, rows: t.rows + 1 })) },
    });
    const results = [];
    for (const check of buildChecks(checks, undefined)) results.push(...(await check.run(context)));
    const tableFindings = results
      .flatMap((result) => result.findings ?? [])
      .filter((finding) => finding.item.startsWith('table '));
    expect(tableFindings.map((finding) => finding.item)).toEqual([
      'table public.accounts',
      'table public.branches',
      'table public.history',
    ]);
    expect(results.find((result) => result.name === 'tables')?.verdict).toBe('failed');
    expect(results.find((result) => result.name === 'manifest')?.expected).not.toHaveProperty(
      'tables',
    );
  });

  it('refuses from: manifest without a restore-drill manifest in the config', () => {
    const parsed = checksSchema.safeParse({
      manifest: { format: 'sha256sum', path: 'SHA256SUMS' },
      tables: { from: 'manifest' },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({
      path: ['tables', 'from'],
      message: expect.stringMatching(/needs checks\.manifest with format: restore-drill/),
    });
    expect(tablesCheckConfigSchema.safeParse({ from: 'manifest', tolerance: 'five' }).success).toBe(
      false,
    );
  });
});

describe('tables check from the last passing run', () => {
  const lastPass = makeRecord({
    checks: [
      { name: 'tables', verdict: 'passed', expected: {}, actual: { tables: restored }, detail: '' },
    ],
  });

  it('warns, recording the counts as the baseline, when no run passed before', async () => {
    const bench = await makeBench({});
    benches.push(bench);
    const [result] = await new TablesCheck(config('last-pass'), {
      from: 'last-pass',
      run: undefined,
    }).run(await contextFor(bench, { outcome: { files: [], tables: restored } }));
    expect(result).toMatchObject({
      verdict: 'warning',
      actual: { tables: restored },
      detail: 'no earlier passing run to compare with; 3 tables recorded as the baseline',
    });
  });

  it('compares with the counts the last passing run recorded, naming the table that shrank', async () => {
    const bench = await makeBench({});
    benches.push(bench);
    const check = new TablesCheck(config('last-pass', '1%'), { from: 'last-pass', run: lastPass });
    const grown = restored.map((table) =>
      table.name === 'public.accounts' ? { ...table, rows: 100_500 } : table,
    );
    const [ok] = await check.run(
      await contextFor(bench, {
        outcome: { files: [], tables: [...grown, { name: 'public.new_table', rows: 3 }] },
      }),
    );
    expect(ok).toMatchObject({
      verdict: 'passed',
      expected: { from: 'last-pass', run: lastPass.runId },
      actual: { notExpected: ['public.new_table'] },
    });
    const shrunk = restored.map((table) =>
      table.name === 'public.accounts' ? { ...table, rows: 50_000 } : table,
    );
    const [bad] = await check.run(
      await contextFor(bench, { outcome: { files: [], tables: shrunk } }),
    );
    expect(bad?.findings).toEqual([
      {
        item: 'table public.accounts',
        problem: 'fewer-rows',
        expected: { rows: 100_000, tolerance: '1%', min: 99_000, max: 101_000 },
        actual: { rows: 50_000 },
      },
    ]);
  });

  it('fails when the last passing run recorded no table counts', async () => {
    const bench = await makeBench({});
    benches.push(bench);
    const bare = makeRecord();
    const [result] = await new TablesCheck(config('last-pass'), {
      from: 'last-pass',
      run: bare,
    }).run(await contextFor(bench, { outcome: { files: [], tables: restored } }));
    expect(result).toMatchObject({
      verdict: 'failed',
      detail: `the last passing run ${bare.runId} recorded no table counts (it ran without a tables check)`,
    });
  });
});
