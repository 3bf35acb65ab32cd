import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SqlCheck, sqlAssertionSchema, sqlCheckConfigSchema } from '../../src/checks/sql-check.js';
import { parseServerUrl, ServerDatabase } from '../../src/sources/postgres/scratch-server.js';
import type { RestoredDatabase } from '../../src/sources/restored-database.js';
import { query } from '../helpers/pg-dumps.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { contextFor, makeBench, type Bench } from './fixture.js';

let url: string;
let database: RestoredDatabase;
const benches: Bench[] = [];

beforeAll(async () => {
  url = await createTestDatabase();
  await query(
    url,
    `create table orders (id int primary key, created_at timestamptz not null);
     insert into orders select g, timestamptz '2026-01-01 02:00:00+00' - (g || ' minutes')::interval from generate_series(1, 500) g;`,
  );
  const name = new URL(url).pathname.slice(1);
  database = new ServerDatabase(parseServerUrl(url), name);
});

afterEach(async () => {
  await Promise.all(benches.splice(0).map((bench) => bench.cleanup()));
});

async function run(assertion: Record<string, unknown>, withDatabase = true) {
  const bench = await makeBench({});
  benches.push(bench);
  const check = new SqlCheck(sqlAssertionSchema.parse(assertion));
  const context = await contextFor(bench, {
    outcome: { files: [], ...(withDatabase ? { database } : {}) },
  });
  const [result] = await check.run(context);
  return result!;
}

describe('sql check', () => {
  it('passes when the query returns the expected value, named sql:<name>', async () => {
    const result = await run({
      name: 'order-count',
      query: 'select count(*) from orders',
      expect: 500,
    });
    expect(result).toMatchObject({
      name: 'sql:order-count',
      verdict: 'passed',
      actual: { value: '500', rows: 1 },
      detail: 'returned "500", expected 500',
    });
  });

  it('compares booleans and text as PostgreSQL returns them', async () => {
    expect(
      (await run({ name: 'b', query: 'select exists (select 1 from orders)', expect: true }))
        .verdict,
    ).toBe('passed');
    expect((await run({ name: 't', query: "select 'ok'::text", expect: 'ok' })).verdict).toBe(
      'passed',
    );
    expect((await run({ name: 'n', query: 'select null', expect: null })).verdict).toBe('passed');
    expect((await run({ name: 'f', query: "select 't'::text", expect: true })).verdict).toBe(
      'failed',
    );
  });

  it('checks that the newest order is younger than the backup, with {setTime}', async () => {
    // The bench's set was taken at 2026-01-01T00:00:00Z; the newest order is from 01:59.
    const fresh = await run({
      name: 'fresh',
      query: "select max(created_at) > {setTime} - interval '1 hour' from orders",
      expect: true,
    });
    expect(fresh.verdict).toBe('passed');
    const stale = await run({
      name: 'stale',
      query: "select max(created_at) > {setTime} + interval '1 day' from orders",
      expect: true,
    });
    expect(stale).toMatchObject({ verdict: 'failed', detail: 'returned false, expected true' });
  });

  it('checks a numeric range and names the value outside it', async () => {
    expect(
      (
        await run({
          name: 'r',
          query: 'select count(*) from orders',
          expect: { min: 100, max: 1000 },
        })
      ).verdict,
    ).toBe('passed');
    const low = await run({
      name: 'r',
      query: 'select count(*) from orders',
      expect: { min: 1000 },
    });
    expect(low).toMatchObject({
      verdict: 'failed',
      detail: 'returned "500", expected at least 1000',
    });
    expect(low.findings?.[0]).toMatchObject({ item: 'sql:r', problem: 'assertion-failed' });
    expect((await run({ name: 'r', query: "select 'abc'", expect: { max: 3 } })).verdict).toBe(
      'failed',
    );
  });

  it('fails on a query that returns no rows', async () => {
    const result = await run({
      name: 'none',
      query: 'select id from orders where id < 0',
      expect: 1,
    });
    expect(result).toMatchObject({
      verdict: 'failed',
      detail: 'returned null (no rows), expected 1',
    });
  });

  it('runs read-only: a write fails the check and changes nothing', async () => {
    const result = await run({ name: 'write', query: 'delete from orders returning 1', expect: 1 });
    expect(result.verdict).toBe('failed');
    expect(result.detail).toBe('query failed: cannot execute DELETE in a read-only transaction');
    expect((await query(url, 'select count(*)::int as n from orders'))[0]?.n).toBe(500);
  });

  it('stops a slow query at its statement timeout', async () => {
    const result = await run({
      name: 'slow',
      query: 'select pg_sleep(5)',
      expect: null,
      timeout: '200ms',
    });
    expect(result).toMatchObject({
      verdict: 'failed',
      detail: 'query failed: canceling statement due to statement timeout',
    });
  });

  it('fails naming the syntax error of a bad query', async () => {
    const result = await run({ name: 'bad', query: 'selec 1', expect: 1 });
    expect(result.detail).toMatch(/^query failed: syntax error at or near "selec"$/);
  });

  it('fails when the source restored no database', async () => {
    const result = await run({ name: 'x', query: 'select 1', expect: 1 }, false);
    expect(result).toMatchObject({
      verdict: 'failed',
      detail: 'the source restored no database to query: sql checks need a postgres source',
    });
  });

  it('refuses duplicate assertion names and an empty range in the config', () => {
    const duplicate = sqlCheckConfigSchema.safeParse([
      { name: 'a', query: 'select 1', expect: 1 },
      { name: 'a', query: 'select 2', expect: 2 },
    ]);
    expect(duplicate.error?.issues[0]).toMatchObject({
      path: [1, 'name'],
      message: "duplicate assertion name 'a'",
    });
    expect(
      sqlAssertionSchema.safeParse({ name: 'a', query: 'select 1', expect: {} }).error?.issues[0]
        ?.message,
    ).toBe('expected min or max');
  });
});
