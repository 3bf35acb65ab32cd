import { createWriteStream } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ManifestLoader } from '../../src/checks/manifest-check.js';
import {
  RecordsCheck,
  recordsCheckConfigSchema,
  recordsCheckKind,
} from '../../src/checks/records-check.js';
import { checksSchema } from '../../src/checks/registry.js';
import type { RunRecord } from '../../src/evidence/run-record.js';
import { writeManifestForFolder } from '../../src/manifest/restore-drill-manifest.js';
import { contextFor, copyInto, makeBench, type Bench } from './fixture.js';

const benches: Bench[] = [];
afterAll(async () => {
  await Promise.all(benches.map((bench) => bench.cleanup()));
});

/** 200 orders, every tenth with a quoted newline in its note. */
function ordersCsv(rows: number): string {
  const lines = ['id,note,amount'];
  for (let i = 1; i <= rows; i++)
    lines.push(i % 10 === 0 ? `${i},"two\nlines",${i}` : `${i},plain,${i}`);
  return `${lines.join('\n')}\n`;
}

/** A set of real files, its manifest written by restore-drill's own writer, restored by copying. */
async function restoredBench(): Promise<{ bench: Bench; loader: ManifestLoader }> {
  const bench = await makeBench({
    'exports/orders.csv': ordersCsv(200),
    'exports/events.jsonl': Array.from({ length: 50 }, (_, i) => JSON.stringify({ i })).join('\n'),
    'notes.txt': 'not data\n',
  });
  benches.push(bench);
  const db = new Database(path.join(bench.setDir, 'exports', 'app.sqlite'));
  db.exec(
    'create table users (id integer primary key); with recursive n(i) as (select 1 union all select i + 1 from n where i < 40) insert into users select i from n',
  );
  db.close();
  const manifest = path.join(bench.root, 'manifest.json');
  const out = createWriteStream(manifest);
  await writeManifestForFolder(bench.setDir, out);
  out.end();
  await finished(out);
  await copyInto(bench.setDir, bench.scratch);
  return { bench, loader: new ManifestLoader({ format: 'restore-drill', path: manifest }) };
}

function config(from: 'manifest' | 'last-pass', tolerance: string = '0%', files = 'exports/**') {
  return recordsCheckConfigSchema.parse({ files, from, tolerance });
}

describe('records check from a manifest', () => {
  it('passes when every CSV, JSON Lines and SQLite file has the records the manifest counted', async () => {
    const { bench, loader } = await restoredBench();
    const [result] = await new RecordsCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench),
    );
    expect(result).toMatchObject({
      verdict: 'passed',
      actual: {
        files: {
          'exports/app.sqlite': { users: 40 },
          'exports/events.jsonl': 50,
          'exports/orders.csv': 200,
        },
      },
    });
    expect(result?.detail).toMatch(/^records of 3 files match manifest /);
  });

  it('fails naming the CSV that lost 10% of its rows, with expected and actual counts', async () => {
    const { bench, loader } = await restoredBench();
    await writeFile(path.join(bench.scratch, 'exports/orders.csv'), ordersCsv(180));
    const [result] = await new RecordsCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench),
    );
    expect(result?.verdict).toBe('failed');
    expect(result?.findings).toEqual([
      {
        item: 'exports/orders.csv',
        problem: 'fewer-records',
        expected: { records: 200 },
        actual: { records: 180 },
      },
    ]);
    expect(result?.detail).toMatch(/fewer-records 'exports\/orders.csv'$/);
  });

  it('fails naming the SQLite table that lost rows, and a file that no longer parses', async () => {
    const { bench, loader } = await restoredBench();
    const db = new Database(path.join(bench.scratch, 'exports', 'app.sqlite'));
    db.exec('delete from users where id > 30');
    db.close();
    await writeFile(path.join(bench.scratch, 'exports/events.jsonl'), '{"i":0}\n{"i":');
    const [result] = await new RecordsCheck(config('manifest', '5%'), {
      from: 'manifest',
      loader,
    }).run(await contextFor(bench));
    expect(result?.verdict).toBe('failed');
    expect(result?.findings).toEqual([
      {
        item: 'exports/events.jsonl',
        problem: 'unreadable',
        actual: 'not valid JSON Lines: line 2 is not JSON',
      },
      {
        item: 'exports/app.sqlite table users',
        problem: 'fewer-records',
        expected: { records: 40, tolerance: '5%', min: 38 },
        actual: { records: 30 },
      },
    ]);
  });

  it('fails when the glob matches no restored file and the manifest counts none it matches', async () => {
    const { bench, loader } = await restoredBench();
    const [result] = await new RecordsCheck(config('manifest', '0%', '**/*.parquet'), {
      from: 'manifest',
      loader,
    }).run(await contextFor(bench));
    expect(result?.verdict).toBe('failed');
    expect(result?.findings).toEqual([
      {
        item: '**/*.parquet',
        problem: 'no-files',
        expected: 'at least one',
        actual: 'the glob matched no restored file',
      },
    ]);
  });

  it('fails when the manifest counts none of the files the glob matches', async () => {
    const { bench, loader } = await restoredBench();
    await writeFile(path.join(bench.scratch, 'exports/late.csv'), ordersCsv(3));
    const [result] = await new RecordsCheck(config('manifest', '0%', '**/late.csv'), {
      from: 'manifest',
      loader,
    }).run(await contextFor(bench));
    expect(result?.verdict).toBe('failed');
    expect(result?.findings).toEqual([
      {
        item: '**/late.csv',
        problem: 'no-counts',
        expected: expect.stringMatching(
          /^record counts in manifest .* for the files the glob matches$/,
        ) as unknown,
        actual: '1 restored file, none counted there',
      },
    ]);
  });

  it('passes, comparing nothing, when the sample left every counted file out', async () => {
    const { bench, loader } = await restoredBench();
    const [result] = await new RecordsCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench, { sampled: true, sample: new Set(['notes.txt']) }),
    );
    expect(result?.verdict).toBe('passed');
    expect(result?.detail).toMatch(/^records of 0 files match manifest /);
  });

  it('fails naming a counted file that was not restored at all', async () => {
    const { bench, loader } = await restoredBench();
    const { rm } = await import('node:fs/promises');
    await rm(path.join(bench.scratch, 'exports/events.jsonl'));
    const [result] = await new RecordsCheck(config('manifest'), { from: 'manifest', loader }).run(
      await contextFor(bench),
    );
    expect(result?.findings).toEqual([
      { item: 'exports/events.jsonl', problem: 'missing', expected: { records: 50 }, actual: null },
    ]);
  });
});

describe('records check from the last passing run', () => {
  function lastPass(files: Record<string, unknown>): RunRecord {
    return {
      runId: 'a1b2c3d4-0000-0000-0000-000000000000',
      startedAt: '2026-01-01T00:00:00.000Z',
      checks: [{ name: 'records', verdict: 'passed', expected: {}, actual: { files }, detail: '' }],
    } as unknown as RunRecord;
  }

  it('passes on growth and fails on a drop beyond the tolerance', async () => {
    const { bench } = await restoredBench();
    const grown = await new RecordsCheck(config('last-pass', '5%'), {
      from: 'last-pass',
      run: lastPass({ 'exports/orders.csv': 150 }),
    }).run(await contextFor(bench));
    expect(grown[0]?.verdict).toBe('passed');
    const dropped = await new RecordsCheck(config('last-pass', '5%'), {
      from: 'last-pass',
      run: lastPass({ 'exports/orders.csv': 250 }),
    }).run(await contextFor(bench));
    expect(dropped[0]?.findings).toEqual([
      {
        item: 'exports/orders.csv',
        problem: 'fewer-records',
        expected: { records: 250, tolerance: '5%', min: 238 },
        actual: { records: 200 },
      },
    ]);
  });

  it('warns, recording the counts as the baseline, when there is no earlier passing run', async () => {
    const { bench } = await restoredBench();
    const [result] = await new RecordsCheck(config('last-pass'), {
      from: 'last-pass',
      run: undefined,
    }).run(await contextFor(bench));
    expect(result?.verdict).toBe('warning');
    expect(result?.detail).toBe(
      'no earlier passing run to compare with; records of 3 files recorded as the baseline',
    );
  });

  it('fails when the glob matches nothing', async () => {
    const { bench } = await restoredBench();
    const [result] = await new RecordsCheck(config('last-pass', '0%', 'nowhere/*.csv'), {
      from: 'last-pass',
      run: lastPass({}),
    }).run(await contextFor(bench));
    expect(result?.findings).toEqual([
      {
        item: 'nowhere/*.csv',
        problem: 'no-files',
        expected: 'at least one',
        actual: 'the glob matched no restored file',
      },
    ]);
  });

  it('fails, instead of recording a baseline, when the first run finds a CSV that does not parse', async () => {
    const { bench } = await restoredBench();
    await writeFile(path.join(bench.scratch, 'exports/orders.csv'), 'id,note\n1,"never closed\n');
    const [result] = await new RecordsCheck(config('last-pass'), {
      from: 'last-pass',
      run: undefined,
    }).run(await contextFor(bench));
    expect(result?.verdict).toBe('failed');
    expect(result?.findings).toEqual([
      {
        item: 'exports/orders.csv',
        problem: 'unreadable',
        actual:
          'not valid CSV: a quote is never closed (the file ends inside a quoted field, at line 2)',
      },
    ]);
    expect(result?.detail).toBe(
      "1 problem with records (no earlier passing run to compare with): unreadable 'exports/orders.csv'",
    );
  });

  it('fails, instead of recording an empty baseline, when the first run matches no file', async () => {
    const { bench } = await restoredBench();
    const [result] = await new RecordsCheck(config('last-pass', '0%', 'nowhere/*.csv'), {
      from: 'last-pass',
      run: undefined,
    }).run(await contextFor(bench));
    expect(result?.verdict).toBe('failed');
    expect(result?.findings?.map((finding) => finding.problem)).toEqual(['no-files']);
  });
});

describe('records check with its own manifest', () => {
  const noDrillManifest = {
    configured: () => false,
    manifest: null,
    lastPass: undefined,
    rpoMs: undefined,
  };

  /** Runs the records check over exports/** with `manifest:` set and no checks.manifest. */
  async function withOwnManifest(manifest: string, bench: Bench) {
    const config = recordsCheckConfigSchema.parse({
      files: 'exports/**',
      from: 'manifest',
      manifest,
    });
    return recordsCheckKind.create(config, noDrillManifest)[0]!.run(await contextFor(bench));
  }

  it('reads the counts from the manifest records.manifest names, without checks.manifest', async () => {
    const { bench } = await restoredBench();
    const checks = checksSchema.parse({
      records: { files: 'exports/**', from: 'manifest', manifest: `${bench.root}/manifest.json` },
    });
    expect(recordsCheckKind.needs?.(checks.records!)).toEqual([]);
    const [check] = recordsCheckKind.create(checks.records!, noDrillManifest);
    await writeFile(path.join(bench.scratch, 'exports/orders.csv'), ordersCsv(180));
    const [result] = await check!.run(await contextFor(bench));
    expect(result?.expected).toMatchObject({ manifest: `${bench.root}/manifest.json` });
    expect(result?.findings).toEqual([
      {
        item: 'exports/orders.csv',
        problem: 'fewer-records',
        expected: { records: 200 },
        actual: { records: 180 },
      },
    ]);
  });

  it('reads a manifest inside the restored set by its relative path', async () => {
    const { bench } = await restoredBench();
    await copyFile(`${bench.root}/manifest.json`, path.join(bench.scratch, 'counts.json'));
    const [result] = await withOwnManifest('counts.json', bench);
    expect(result).toMatchObject({ verdict: 'passed', expected: { manifest: 'counts.json' } });
  });

  it('fails naming the manifest when the one it names is not there', async () => {
    const { bench } = await restoredBench();
    const [result] = await withOwnManifest('missing.json', bench);
    expect(result?.verdict).toBe('failed');
    expect(result?.detail).toMatch(/^manifest missing\.json cannot be used: /);
  });

  it('refuses manifest with from: last-pass, and from: manifest with neither manifest', () => {
    const lastPass = checksSchema.safeParse({
      records: { files: '*.csv', from: 'last-pass', manifest: 'counts.json' },
    });
    expect(lastPass.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      [
        'records.manifest',
        'manifest names where from: manifest reads the counts; it needs from: manifest',
      ],
    ]);
    const none = checksSchema.safeParse({ records: { files: '*.csv', from: 'manifest' } });
    expect(none.error?.issues[0]?.path).toEqual(['records', 'from']);
    expect(none.error?.issues[0]?.message).toMatch(/or name it with records\.manifest\)$/);
  });
});
