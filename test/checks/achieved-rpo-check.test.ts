import { utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AchievedRpoCheck, achievedRpoConfigSchema } from '../../src/checks/achieved-rpo-check.js';
import { configSchema } from '../../src/config/schema.js';
import { parseServerUrl, ServerDatabase } from '../../src/sources/postgres/scratch-server.js';
import { run as runTool } from '../helpers/artefacts.js';
import { pgDump, query } from '../helpers/pg-dumps.js';
import { findPostgresBinDir } from '../helpers/postgres-server.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { contextFor, makeBench, type Bench } from './fixture.js';

const DAY = 86_400_000;
/** The fixture's run start; the set was taken at 2026-01-01T00:00Z. */
const RUN_START = Date.parse('2026-01-01T12:00:00Z');

const benches: Bench[] = [];
afterAll(async () => {
  await Promise.all(benches.map((bench) => bench.cleanup()));
});

async function bench(files: Record<string, string> = {}): Promise<Bench> {
  const made = await makeBench({});
  benches.push(made);
  for (const [name, content] of Object.entries(files))
    await writeFile(path.join(made.scratch, name), content);
  return made;
}

function check(config: Record<string, unknown>, rpo = DAY) {
  return new AchievedRpoCheck(achievedRpoConfigSchema.parse(config), rpo);
}

describe('achievedRpo from a restored pg_dump', () => {
  let restored: ServerDatabase;

  beforeAll(async () => {
    // Orders up to 3 days before the run, dumped with the real pg_dump and restored with pg_restore.
    const source = await createTestDatabase();
    await query(
      source,
      `create table orders (id int primary key, created_at timestamptz not null);
       insert into orders select g, timestamptz '2025-12-29 12:00:00+00' - (g || ' hours')::interval
       from generate_series(0, 99) g;`,
    );
    const bin = await findPostgresBinDir();
    const dump = await pgDump(source, 'c', path.join((await bench()).root, 'orders.dump'));
    const target = await createTestDatabase();
    await runTool(path.join(bin, 'pg_restore'), ['--no-owner', '-d', target, dump]);
    restored = new ServerDatabase(parseServerUrl(target), new URL(target).pathname.slice(1));
  });

  it('fails a 1-day target when the newest row is 3 days old, recording both ages', async () => {
    const made = await bench();
    const [result] = await check({ query: 'select max(created_at) from orders' }).run(
      await contextFor(made, { outcome: { files: [], database: restored } }),
    );
    expect(result).toMatchObject({
      name: 'achievedRpo',
      verdict: 'failed',
      expected: { query: 'select max(created_at) from orders', maxAge: '1d' },
      actual: {
        newest: '2025-12-29T12:00:00.000Z',
        ageAtRunMs: 3 * DAY,
        ageAtRun: '3d',
        ageAtBackupMs: 2.5 * DAY,
        ageAtBackup: '2d12h',
      },
      findings: [{ item: 'achievedRpo', problem: 'data-too-old' }],
    });
    expect(result?.detail).toBe(
      'newest data 2025-12-29T12:00:00.000Z (query) is 3d old at the run, 2d12h at the backup: beyond the RPO of 1d',
    );
  });

  it('passes a 4-day target on the same data', async () => {
    const [result] = await check({ query: 'select max(created_at) from orders' }, 4 * DAY).run(
      await contextFor(await bench(), { outcome: { files: [], database: restored } }),
    );
    expect(result?.verdict).toBe('passed');
  });

  it('fails naming the query when it returns no time, or errors', async () => {
    const context = await contextFor(await bench(), {
      outcome: { files: [], database: restored },
    });
    const [empty] = await check({
      query: 'select max(created_at) from orders where id < 0',
    }).run(context);
    expect(empty?.findings).toEqual([
      { item: 'query', problem: 'no-time', actual: 'it returned null, not a time' },
    ]);
    const [broken] = await check({ query: 'select max(nope) from orders' }).run(context);
    expect(broken).toMatchObject({ verdict: 'failed', findings: [{ problem: 'query-failed' }] });
    expect(broken?.detail).toMatch(/column "nope" does not exist/);
  });

  it('fails when the source restored no database', async () => {
    const [result] = await check({ query: 'select now()' }).run(await contextFor(await bench()));
    expect(result?.findings).toEqual([
      {
        item: 'database',
        problem: 'no-database',
        actual: 'the source restored no database to query',
      },
    ]);
  });
});

describe('achievedRpo from restored files', () => {
  const csv = (newest: string) =>
    `id,note,updated_at\n1,"two\nlines",2025-12-30T00:00:00Z\n2,x,${newest}\n3,y,\n`;

  it('takes the newest CSV column value across files and JSON Lines keys', async () => {
    const made = await bench({
      'a.csv': csv('2026-01-01T06:00:00Z'),
      'b.jsonl': `${JSON.stringify({ updated_at: '2025-12-31T00:00:00Z' })}\n`,
    });
    const [result] = await check({ files: '*.{csv,jsonl}', field: 'updated_at' }).run(
      await contextFor(made),
    );
    expect(result).toMatchObject({
      verdict: 'passed',
      actual: { newest: '2026-01-01T06:00:00.000Z', ageAtRun: '6h', ageAtBackupMs: -6 * 3_600_000 },
    });
    expect(result?.detail).toMatch(/\(updated_at in a\.csv, newest of 2 files\)/);
  });

  it('fails when the newest value is beyond the target, and names a file without the column', async () => {
    const made = await bench({ 'old.csv': csv('2025-12-28T00:00:00Z'), 'other.csv': 'id\n1\n' });
    const [result] = await check({ files: '*.csv', field: 'updated_at' }).run(
      await contextFor(made),
    );
    expect(result).toMatchObject({
      verdict: 'failed',
      actual: {
        newest: '2025-12-30T00:00:00.000Z',
        ageAtRun: '2d12h',
        skipped: [{ item: 'other.csv', problem: 'unreadable' }],
      },
    });
    const [none] = await check({ files: 'other.csv', field: 'updated_at' }).run(
      await contextFor(made),
    );
    expect(none?.findings).toEqual([
      {
        item: 'other.csv',
        problem: 'unreadable',
        actual: "no column 'updated_at' in its header line",
      },
    ]);
  });

  it('uses the newest mtime with field: mtime, and fails when the glob matches nothing', async () => {
    const made = await bench({ 'a.bin': 'x', 'b.bin': 'y' });
    await utimes(
      path.join(made.scratch, 'a.bin'),
      new Date(RUN_START - 3 * DAY),
      new Date(RUN_START - 3 * DAY),
    );
    await utimes(
      path.join(made.scratch, 'b.bin'),
      new Date(RUN_START - 2 * DAY),
      new Date(RUN_START - 2 * DAY),
    );
    const [result] = await check({ files: '*.bin', field: 'mtime' }).run(await contextFor(made));
    expect(result).toMatchObject({ verdict: 'failed', actual: { ageAtRun: '2d' } });
    expect(result?.detail).toMatch(/\(mtime of b\.bin, newest of 2 files\)/);
    const [none] = await check({ files: '*.nothing', field: 'mtime' }).run(await contextFor(made));
    expect(none?.findings).toEqual([
      { item: '*.nothing', problem: 'no-files', actual: 'the glob matched no restored file' },
    ]);
  });
});

describe('achievedRpo config', () => {
  it('refuses achievedRpo on a drill without targets.rpo, naming the key', () => {
    const parsed = configSchema.safeParse({
      drills: [
        {
          name: 'db',
          source: { kind: 'directory', path: '/backups/*' },
          checks: { achievedRpo: { files: '*.csv', field: 'mtime' } },
        },
      ],
    });
    expect(parsed.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      [
        'drills.0.checks.achievedRpo',
        'the achieved RPO is judged against targets.rpo: set targets.rpo',
      ],
    ]);
  });
});
