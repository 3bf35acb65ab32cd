import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CheckBrokenError } from '../../src/checks/check.js';
import {
  CommandCheck,
  commandCheckSchema,
  commandsCheckConfigSchema,
} from '../../src/checks/commands-check.js';
import { parseServerUrl, ServerDatabase } from '../../src/sources/postgres/scratch-server.js';
import type { RestoredDatabase } from '../../src/sources/restored-database.js';
import { query } from '../helpers/pg-dumps.js';
import { findPostgresBinDir } from '../helpers/postgres-server.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { contextFor, makeBench, type Bench } from './fixture.js';

const benches: Bench[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(benches.splice(0).map((bench) => bench.cleanup()));
});

const rows = Array.from({ length: 2_000 }, (_, i) => `${i},order ${i}\n`).join('');

/** A restore holding a real gzip file, made valid and then broken on demand. */
async function restoredGzip(): Promise<Bench> {
  const bench = await makeBench({});
  benches.push(bench);
  await writeFile(path.join(bench.scratch, 'orders.csv.gz'), gzipSync(rows));
  return bench;
}

async function run(bench: Bench, command: Record<string, unknown>, database?: RestoredDatabase) {
  const check = new CommandCheck(commandCheckSchema.parse(command));
  const context = await contextFor(bench, {
    outcome: { files: [], ...(database ? { database } : {}) },
  });
  const [result] = await check.run(context);
  return result!;
}

describe('commands check', () => {
  it('fails a restored .gz that gzip -t finds corrupt, with its output tail as evidence', async () => {
    const bench = await restoredGzip();
    const file = path.join(bench.scratch, 'orders.csv.gz');
    const handle = await open(file, 'r+');
    await handle.write(Buffer.from('garbage!'), 0, 8, 200);
    await handle.close();
    const result = await run(bench, {
      name: 'gzip',
      argv: ['gzip', '-t', '{scratch}/orders.csv.gz'],
    });
    expect(result).toMatchObject({
      name: 'command:gzip',
      verdict: 'failed',
      expected: { argv: ['gzip', '-t', '{scratch}/orders.csv.gz'], exitCode: 0 },
      actual: { exitCode: 1, timedOut: false },
      findings: [{ item: 'command:gzip', problem: 'command-failed' }],
    });
    expect((result.actual as { stderrTail: string }).stderrTail).toContain('orders.csv.gz');
    expect(result.detail).toMatch(/^gzip -t .*\/orders\.csv\.gz: exit code 1: gzip: /);
  });

  it('passes a restored .gz that gzip -t reads whole, run in the restore folder', async () => {
    const bench = await restoredGzip();
    const result = await run(bench, { name: 'gzip', argv: ['gzip', '-t', 'orders.csv.gz'] });
    expect(result).toMatchObject({
      name: 'command:gzip',
      verdict: 'passed',
      actual: { command: 'gzip -t orders.csv.gz', exitCode: 0 },
      detail: 'gzip -t orders.csv.gz exited 0',
    });
  });

  it("judges a restored SQLite file by sqlite3's integrity check, and a damaged one fails", async () => {
    const bench = await makeBench({});
    benches.push(bench);
    const file = path.join(bench.scratch, 'app.sqlite');
    const db = new Database(file);
    db.exec(
      'create table users (id integer primary key, name text); insert into users values (1, 1)',
    );
    db.close();
    const integrity = {
      name: 'sqlite',
      argv: ['sqlite3', '-bail', '{scratch}/app.sqlite', 'PRAGMA integrity_check'],
    };
    const good = await run(bench, integrity);
    expect(good.verdict).toBe('passed');
    expect((good.actual as { stdoutTail: string }).stdoutTail).toBe('ok');
    const handle = await open(file, 'r+');
    await handle.write(Buffer.alloc(16, 0xff), 0, 16, 0);
    await handle.close();
    const bad = await run(bench, integrity);
    expect(bad.verdict).toBe('failed');
    expect(bad.detail).toMatch(/file is not a database/);
  });

  it('gives {database_url} without a password, and pg_amcheck checks the restored database', async () => {
    const url = await createTestDatabase();
    await query(
      url,
      'create table t (id int primary key); insert into t select generate_series(1, 500)',
    );
    const database = new ServerDatabase(parseServerUrl(url), new URL(url).pathname.slice(1));
    const bench = await makeBench({});
    benches.push(bench);
    const amcheck = path.join(await findPostgresBinDir(), 'pg_amcheck');
    const result = await run(
      bench,
      { name: 'amcheck', argv: [amcheck, '--install-missing', '{database_url}'] },
      database,
    );
    expect(result, JSON.stringify(result.actual)).toMatchObject({
      verdict: 'passed',
      actual: { exitCode: 0 },
    });
    expect((result.actual as { command: string }).command).toContain(database.location);
    const secret = new ServerDatabase(parseServerUrl('postgres://u:s3cret@db:5432/x'), 'y');
    expect(secret.commandAccess()).toMatchObject({
      url: 'postgres://u@db:5432/y',
      env: { PGPASSWORD: 's3cret', PGHOST: undefined },
    });
  });

  it('fails naming why when {database_url} has no database to stand for', async () => {
    const bench = await restoredGzip();
    const result = await run(bench, { name: 'db', argv: ['psql', '{database_url}'] });
    expect(result).toMatchObject({
      verdict: 'failed',
      detail:
        '{database_url} cannot be filled in: the source restored no database (it needs a postgres source with a scratch server)',
    });
  });

  it('adds env to the command, and fails a command that prints but exits non-zero', async () => {
    const bench = await restoredGzip();
    const shown = await run(bench, {
      name: 'env',
      argv: ['printenv', 'DRILL_MARK'],
      env: { DRILL_MARK: 'set' },
    });
    expect(shown).toMatchObject({ verdict: 'passed', actual: { stdoutTail: 'set' } });
    const missing = await run(bench, { name: 'env', argv: ['printenv', 'DRILL_UNSET_MARK'] });
    expect(missing).toMatchObject({ verdict: 'failed', actual: { exitCode: 1 } });
  });

  it('stops a command past its timeout and breaks (it judged nothing), keeping the command', async () => {
    const bench = await restoredGzip();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const running = run(bench, { name: 'slow', argv: ['sleep', '600'], timeout: '2m' }).catch(
      (error: unknown) => error,
    );
    await vi.waitFor(() => expect(vi.getTimerCount()).toBeGreaterThan(0), { timeout: 30_000 });
    await vi.advanceTimersByTimeAsync(120_000);
    const broken = await running;
    expect(broken).toBeInstanceOf(CheckBrokenError);
    expect((broken as CheckBrokenError).message).toBe(
      'sleep 600 did not finish within 2m and was stopped: it judged nothing (raise its timeout)',
    );
    expect((broken as CheckBrokenError).commands).toEqual([
      expect.objectContaining({ command: 'sleep 600', exitCode: null, timedOut: true }),
    ]);
  });

  it('breaks (not a verdict) when the program cannot be started, keeping the attempt', async () => {
    const bench = await restoredGzip();
    const broken = await run(bench, { name: 'x', argv: ['no-such-verifier-here'] }).catch(
      (error: unknown) => error,
    );
    expect(broken).toBeInstanceOf(CheckBrokenError);
    expect((broken as CheckBrokenError).message).toMatch(
      /^cannot start "no-such-verifier-here": spawn no-such-verifier-here ENOENT$/,
    );
    expect((broken as CheckBrokenError).commands).toHaveLength(1);
  });

  it('refuses an empty argv and duplicate names, naming the entry', () => {
    const parsed = commandsCheckConfigSchema.safeParse([
      { name: 'a', argv: ['true'] },
      { name: 'a', argv: [] },
    ]);
    expect(parsed.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['1.argv', 'Too small: expected array to have >=1 items'],
      ['1.name', "duplicate command name 'a'"],
    ]);
  });
});
