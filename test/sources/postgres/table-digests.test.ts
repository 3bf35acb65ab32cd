import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPlainDump } from '../../../src/sources/postgres/pglite-loader.js';
import { PgliteDatabase } from '../../../src/sources/postgres/pglite-database.js';
import { digestTables, type TableDigest } from '../../../src/sources/postgres/table-digests.js';
import type { QueryFn } from '../../../src/sources/restored-database.js';
import { run } from '../../helpers/artefacts.js';
import { createPgbenchDatabase, pgDump, query } from '../../helpers/pg-dumps.js';
import { findPostgresBinDir } from '../../helpers/postgres-server.js';
import { createTestDatabase, createTestEmbeddedDir } from '../../helpers/test-database.js';
import { tempDir } from '../../helpers/temp.js';

/** Digests of a database on the test server, in one read-only transaction, with a session time zone of choice. */
async function digestsOf(url: string, timezone = 'UTC'): Promise<TableDigest[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`set timezone = '${timezone}'`);
    await client.query('begin transaction isolation level repeatable read read only');
    const run: QueryFn = async (text, params) => {
      const result = await client.query({ text, values: params ? [...params] : [] });
      return { rows: result.rows as Record<string, unknown>[], fields: [] };
    };
    const digests = await digestTables(run);
    await client.query('rollback');
    return digests;
  } finally {
    await client.end();
  }
}

/** Digests of a plain dump loaded into a fresh embedded database (PGlite). */
async function digestsInPglite(plain: string): Promise<TableDigest[]> {
  const embedded = await createTestEmbeddedDir('empty');
  const lite = await PGlite.create({ dataDir: path.join(embedded.dir, 'pgdata') });
  try {
    await loadPlainDump(lite, plain);
    const database = new PgliteDatabase(lite, 'memory');
    return await database.readOnly((q) => digestTables(q), { statementTimeoutMs: 60_000 });
  } finally {
    await lite.close();
    await embedded.cleanup();
  }
}

let dir: string;
let live: string;
// The tests only read the live database: its dump and digests are made once, by the first test that needs them.
let liveDump: Promise<string> | undefined;
let liveDigests: Promise<TableDigest[]> | undefined;
const digestsOfLive = (): Promise<TableDigest[]> => (liveDigests ??= digestsOf(live));

/** The live database through the real pg_dump -Fc and pg_restore into a new database; its URL. */
async function dumpAndRestore(): Promise<string> {
  const dump = await (liveDump ??= pgDump(live, 'c', path.join(dir, 'live.dump')));
  const restored = await createTestDatabase();
  await run(path.join(await findPostgresBinDir(), 'pg_restore'), [
    '--no-owner',
    '-d',
    restored,
    dump,
  ]);
  return restored;
}

beforeAll(async () => {
  dir = await tempDir('restore-drill-digests-');
  live = await createPgbenchDatabase();
  await query(
    live,
    `create table events (id int primary key, at timestamptz not null, amount numeric(12,2), ratio float8,
       payload jsonb, note text, raw bytea, span interval, day date);
     insert into events
       select i, timestamptz '2026-12-01 00:00:00+00' + i * interval '1 minute', i * 1.25, i / 3.0,
              jsonb_build_object('i', i, 'tags', jsonb_build_array('a', 'b')), 'note ' || i || E'\\nline two',
              decode(md5(i::text), 'hex'), i * interval '90 seconds', date '2026-01-01' + i
       from generate_series(1, 2000) as i;
     insert into events values (2001, now(), null, 'NaN', null, null, null, null, null);
     alter table pgbench_tellers drop column filler;`,
  );
}, 60_000);

describe('digestTables', () => {
  it('gives every table a digest that survives pg_dump -Fc and pg_restore into another database', async () => {
    const before = await digestsOfLive();
    expect(before.map((table) => table.name)).toEqual([
      'public.events',
      'public.pgbench_accounts',
      'public.pgbench_branches',
      'public.pgbench_history',
      'public.pgbench_tellers',
    ]);
    expect(before.find((table) => table.name === 'public.events')).toMatchObject({ rows: 2001 });
    for (const table of before) expect(table.digest).toMatch(/^[0-9a-f]{32}$/);

    const restored = await dumpAndRestore();
    expect(await digestsOf(restored)).toEqual(before);
  });

  it('does not depend on the session time zone or the row order on disk', async () => {
    const before = await digestsOfLive();
    const copy = await dumpAndRestore();
    // Rewriting every row moves it on disk; CLUSTER by a descending index reverses the order.
    await query(
      copy,
      'update events set id = id; create index events_desc on events (id desc); cluster events using events_desc',
    );
    expect(await digestsOf(copy, 'America/Los_Angeles')).toEqual(before);
  });

  it('matches the same data loaded from a plain dump into the embedded database (PGlite)', async () => {
    // Two tables keep the WASM load short: events (every type above) and pgbench_tellers (a dropped column).
    const before = (await digestsOfLive()).filter((table) =>
      ['public.events', 'public.pgbench_tellers'].includes(table.name),
    );
    const plain = await pgDump(live, 'p', path.join(dir, 'live.sql'), [
      '--no-owner',
      '-t',
      'events',
      '-t',
      'pgbench_tellers',
    ]);
    expect(await digestsInPglite(plain)).toEqual(before);
  });

  it('changes the digest of exactly the table where one value was updated, its row count unchanged', async () => {
    const copy = await dumpAndRestore();
    const before = await digestsOf(copy);
    await query(copy, 'update pgbench_accounts set abalance = abalance + 1 where aid = 4242');
    const after = await digestsOf(copy);
    const changed = after.filter((table, index) => table.digest !== before[index]?.digest);
    expect(changed.map((table) => table.name)).toEqual(['public.pgbench_accounts']);
    expect(after.map((table) => table.rows)).toEqual(before.map((table) => table.rows));
  });

  describe('large objects', () => {
    const MIB = 1024 * 1024;
    /** Large objects of every shape: empty, small, exactly 1 MiB, 2.5 MiB, and sparse (a hole before 3 MiB). */
    const LARGE_OBJECTS_SQL = `create table docs (id int primary key, body oid);
       insert into docs values
         (1, lo_from_bytea(0, '')),
         (2, lo_from_bytea(0, 'blob-two')),
         (3, lo_from_bytea(0, decode(repeat('ab', ${MIB}), 'hex'))),
         (4, lo_from_bytea(0, decode(repeat('cd', ${(5 * MIB) / 2}), 'hex'))),
         (5, lo_create(0));
       select lo_put(body, ${3 * MIB}, 'tail') from docs where id = 5;`;
    let withObjects: string;
    let objectsDump: Promise<string> | undefined;
    const dumpOfObjects = (): Promise<string> =>
      (objectsDump ??= pgDump(withObjects, 'c', path.join(dir, 'objects.dump'), ['-Z0']));
    beforeAll(async () => {
      withObjects = await createTestDatabase();
      await query(withObjects, LARGE_OBJECTS_SQL);
    });

    it('counts and digests them as the table pg_catalog.pg_largeobject_metadata, the same after pg_dump -Fc -Z0 and pg_restore', async () => {
      const before = await digestsOf(withObjects);
      expect(before.map((table) => [table.name, table.rows])).toEqual([
        ['public.docs', 5],
        ['pg_catalog.pg_largeobject_metadata', 5],
      ]);
      const restored = await createTestDatabase();
      await run(path.join(await findPostgresBinDir(), 'pg_restore'), [
        '--no-owner',
        '-d',
        restored,
        await dumpOfObjects(),
      ]);
      expect(await digestsOf(restored)).toEqual(before);
    });

    it('changes the large objects digest when one byte of one object changes, or two objects swap contents', async () => {
      const copy = await createTestDatabase();
      await query(copy, LARGE_OBJECTS_SQL);
      const digestOfObjects = async (): Promise<TableDigest | undefined> =>
        (await digestsOf(copy)).find(
          (table) => table.name === 'pg_catalog.pg_largeobject_metadata',
        );
      const before = await digestOfObjects();
      // One byte past the first 1 MiB piece of object 4.
      await query(copy, `select lo_put(body, ${MIB + 7}, 'x') from docs where id = 4`);
      const changed = await digestOfObjects();
      expect(changed?.rows).toBe(5);
      expect(changed?.digest).not.toBe(before?.digest);

      const swapped = await createTestDatabase();
      await query(
        swapped,
        `create table docs (id int primary key, body oid);
         insert into docs values (1, lo_from_bytea(0, 'one')), (2, lo_from_bytea(0, 'two'));`,
      );
      const [, objects] = await digestsOf(swapped);
      await query(
        swapped,
        `select lo_put(body, 0, case id when 1 then 'two'::bytea else 'one'::bytea end) from docs`,
      );
      const [, swappedObjects] = await digestsOf(swapped);
      expect(swappedObjects?.rows).toBe(2);
      expect(swappedObjects?.digest).not.toBe(objects?.digest);
    });

    it('gives the same digest in the embedded database (PGlite) after a plain dump', async () => {
      const before = await digestsOf(withObjects);
      const plain = await pgDump(withObjects, 'p', path.join(dir, 'objects.sql'), ['--no-owner']);
      const digests = await digestsInPglite(plain);
      expect(digests.map((table) => table.name)).toContain('pg_catalog.pg_largeobject_metadata');
      expect(digests).toEqual(before);
    });
  });

  it('changes when one of two identical rows is removed (a sum, not XOR, of row hashes)', async () => {
    const copy = await createTestDatabase();
    await query(copy, 'create table twins (x int); insert into twins values (1), (1), (2)');
    const [three] = await digestsOf(copy);
    await query(copy, 'delete from twins where ctid = (select min(ctid) from twins where x = 1)');
    const [two] = await digestsOf(copy);
    await query(copy, 'delete from twins where x = 1');
    const [one] = await digestsOf(copy);
    expect(new Set([three?.digest, two?.digest, one?.digest]).size).toBe(3);
  });
});
