import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
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
    expect(document.tables).toEqual([
      { name: 'public.pgbench_accounts', rows: 100_000 },
      { name: 'public.pgbench_branches', rows: 1 },
      { name: 'public.pgbench_history', rows: 0 },
      { name: 'public.pgbench_tellers', rows: 10 },
      { name: 'sales.orders', rows: 7 },
    ]);
    const manifest = await readManifest(out, 'restore-drill');
    expect(manifest.tables?.get('sales.orders')).toBe(7);
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
