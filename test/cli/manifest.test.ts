import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/manifest/index.js';
import { sha256sumTree, writeTree } from '../helpers/artefacts.js';
import { cli } from '../helpers/cli.js';
import { createPgbenchDatabase, query } from '../helpers/pg-dumps.js';
import { tempDir } from '../helpers/temp.js';

let root: string;
let folder: string;

beforeAll(async () => {
  root = await tempDir('restore-drill-manifest-cli-');
  folder = path.join(root, 'backup');
  await writeTree(folder, {
    'a.txt': 'alpha\n',
    'deep/er/b.bin': Buffer.alloc(2_500_000, 7),
    empty: '',
  });
});

describe('restore-drill manifest PATH', () => {
  it('writes the JSON manifest of a folder to stdout, with the sizes and hashes sha256sum finds', async () => {
    const result = await cli(['manifest', folder]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(`manifest of 3 files (2.5 MB) in ${folder}`);
    const document = JSON.parse(result.stdout) as {
      format: string;
      version: number;
      source: string;
      files: { path: string; size: number; sha256: string }[];
    };
    expect(document).toMatchObject({
      format: 'restore-drill-manifest',
      version: 1,
      source: folder,
    });
    const sums = await sha256sumTree(folder);
    expect(document.files).toEqual([
      { path: 'a.txt', size: 6, sha256: sums.get('a.txt') },
      { path: 'deep/er/b.bin', size: 2_500_000, sha256: sums.get('deep/er/b.bin') },
      { path: 'empty', size: 0, sha256: sums.get('empty') },
    ]);
  });

  it('writes --out inside the folder atomically, without listing itself, readable by the manifest check', async () => {
    const out = path.join(folder, 'MANIFEST.json');
    const result = await cli(['manifest', folder, '--out', out, '--format', 'restore-drill']);
    expect(result.exitCode, result.stderr).toBe(0);
    const manifest = await readManifest(out, 'restore-drill');
    expect([...manifest.files.keys()]).toEqual(['a.txt', 'deep/er/b.bin', 'empty']);
    expect(manifest.problems).toEqual([]);
    expect((await readdir(folder)).filter((name) => name.includes('partial'))).toEqual([]);
  });

  it('writes the exact row count of every table of a database, from one snapshot, without the password', async () => {
    const url = await createPgbenchDatabase();
    await query(
      url,
      'create schema sales; create table sales.orders (id int); insert into sales.orders select generate_series(1, 7)',
    );
    // The test server trusts every local connection: the password is ignored there, and must not show up here.
    const withPassword = url.replace('postgres@', 'postgres:pw-for-manifest@');
    const out = path.join(root, 'db.manifest.json');
    const result = await cli(['manifest', '--database', withPassword, '--out', out]);
    expect(result.exitCode, result.stderr).toBe(0);
    const text = await readFile(out, 'utf8');
    expect(text).not.toContain('pw-for-manifest');
    const document = JSON.parse(text) as {
      source: string;
      files: unknown[];
      tables: { name: string; rows: number }[];
    };
    expect(document.source).toBe(url);
    expect(document.files).toEqual([]);
    const digest = expect.stringMatching(/^[0-9a-f]{32}$/) as unknown;
    expect(document.tables).toEqual([
      { name: 'public.pgbench_accounts', rows: 100_000, digest },
      { name: 'public.pgbench_branches', rows: 1, digest },
      { name: 'public.pgbench_history', rows: 0, digest: '0'.repeat(32) },
      { name: 'public.pgbench_tellers', rows: 10, digest },
      { name: 'sales.orders', rows: 7, digest },
    ]);
    expect(result.stderr).toContain('manifest of 5 tables (row counts and digests)');
    const manifest = await readManifest(out, 'restore-drill');
    expect(manifest.tables?.get('sales.orders')).toBe(7);
    expect(manifest.tableDigests?.get('sales.orders')).toMatch(/^[0-9a-f]{32}$/);

    const countsOnly = await cli(['manifest', '--database', url, '--no-digests']);
    expect(countsOnly.exitCode, countsOnly.stderr).toBe(0);
    const counted = JSON.parse(countsOnly.stdout) as { tables: Record<string, unknown>[] };
    expect(counted.tables[4]).toEqual({ name: 'sales.orders', rows: 7 });
  });

  it('records the records of every CSV, TSV, JSON Lines and SQLite file it recognises, unless --no-records', async () => {
    const data = path.join(root, 'exports');
    await writeTree(data, {
      'orders.csv': 'id,note\n1,"multi\nline"\n2,x\n',
      'people.tsv': 'name\tcity\nAda\tLondon\n',
      'events.jsonl': '{"a":1}\n{"a":2}\n{"a":3}\n',
      'broken.jsonl': '{"a":1}\n{"a":',
      'notes.txt': 'not counted\n',
    });
    const sqlite = new Database(path.join(data, 'app.sqlite'));
    sqlite.exec('create table users (id); insert into users values (1), (2)');
    sqlite.close();
    const result = await cli(['manifest', data]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      'records not counted: broken.jsonl (not valid JSON Lines: line 2 is not JSON)',
    );
    expect(result.stderr).toContain('records of 4 counted');
    const document = JSON.parse(result.stdout) as { files: { path: string; records?: unknown }[] };
    expect(Object.fromEntries(document.files.map((file) => [file.path, file.records]))).toEqual({
      'app.sqlite': { users: 2 },
      'broken.jsonl': undefined,
      'events.jsonl': 3,
      'notes.txt': undefined,
      'orders.csv': 2,
      'people.tsv': 1,
    });
    const manifestFile = path.join(root, 'exports.manifest.json');
    await cli(['manifest', data, '--out', manifestFile]);
    const manifest = await readManifest(manifestFile, 'restore-drill');
    expect(manifest.problems).toEqual([]);
    expect(manifest.files.get('app.sqlite')?.records).toEqual({ users: 2 });

    const plain = await cli(['manifest', data, '--no-records']);
    const bare = JSON.parse(plain.stdout) as { files: { records?: unknown }[] };
    expect(bare.files.every((file) => file.records === undefined)).toBe(true);
  });

  it('is a usage error without a PATH or --database, or with both, or a missing folder', async () => {
    const neither = await cli(['manifest']);
    expect(neither.exitCode).toBe(2);
    expect(neither.stderr).toContain('give either a folder PATH or --database URL');
    const both = await cli(['manifest', folder, '--database', 'postgres://x@127.0.0.1/y']);
    expect(both.exitCode).toBe(2);
    const missing = await cli(['manifest', path.join(root, 'nope')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain(`cannot read ${path.join(root, 'nope')}: not found`);
    const format = await cli(['manifest', folder, '--format', 'sha256sum']);
    expect(format.exitCode).toBe(2);
  });

  it('fails with the cause when the database cannot be reached, leaving no file', async () => {
    const out = path.join(root, 'unreachable.json');
    const result = await cli([
      'manifest',
      '--database',
      'postgres://postgres:secret-pw@127.0.0.1:1/shop',
      '--out',
      out,
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /cannot count the tables of postgres:\/\/postgres@127\.0\.0\.1:1\/shop: connect ECONNREFUSED/,
    );
    expect(result.stderr).not.toContain('secret-pw');
    await expect(readFile(out)).rejects.toThrow();
  });
});
