import { describe, expect, it } from 'vitest';
import { failedEntries, parseToc } from '../../../src/sources/postgres/pg-tools.js';
import {
  databaseUrl,
  parseServerUrl,
  scratchDatabaseName,
  toolEnv,
} from '../../../src/sources/postgres/scratch-server.js';

describe('pg_restore output', () => {
  it('reads the source database and the TABLE DATA entries from pg_restore -l', () => {
    const toc = parseToc(
      [
        ';',
        '; Archive created at 2026-11-27 09:03:35 UTC',
        ';     dbname: shop',
        ';     Dumped from database version: 15.18 (Debian 15.18-0+deb12u1)',
        ';     Dumped by pg_dump version: 16.4 (Debian 16.4-1)',
        ';',
        '216; 1259 16391 TABLE public orders postgres',
        '3358; 0 16391 TABLE DATA public orders postgres',
        '3359; 0 16394 TABLE DATA sales line items postgres',
        '',
      ].join('\n'),
    );
    expect(toc.dbname).toBe('shop');
    expect(toc.pgDumpMajor).toBe(16);
    expect(toc.entries).toHaveLength(3);
    expect(toc.tableData.map((entry) => entry.name)).toEqual(['public.orders', 'sales.line items']);
  });

  it('names each failed entry by its TOC entry in a serial restore, and by its SQL in a parallel one', () => {
    const serial = [
      'pg_restore: while PROCESSING TOC:',
      'pg_restore: from TOC entry 3356; 0 16385 TABLE DATA public pgbench_history postgres',
      'pg_restore: error: COPY failed for table "pgbench_history": ERROR:  value too long',
      'pg_restore: warning: errors ignored on restore: 1',
    ].join('\n');
    expect(failedEntries(serial)).toEqual([
      {
        entry: 'TABLE DATA public.pgbench_history',
        reason: 'COPY failed for table "pgbench_history": ERROR:  value too long',
      },
    ]);
    const parallel = [
      'pg_restore: error: could not execute query: ERROR:  role "x" does not exist',
      'Command was: CREATE POLICY p ON public.t TO x USING (true);',
      '',
      'pg_restore: warning: errors ignored on restore: 1',
    ].join('\n');
    expect(failedEntries(parallel)).toEqual([
      {
        entry: 'CREATE POLICY p ON public.t',
        reason: 'could not execute query: ERROR:  role "x" does not exist',
      },
    ]);
    expect(failedEntries('something odd')).toEqual([
      { entry: 'pg_restore', reason: 'something odd' },
    ]);
  });
});

describe('scratch server addressing', () => {
  it('names the scratch database after the drill and the run, within 63 bytes', () => {
    expect(scratchDatabaseName('/s/Shop-Nightly.v2-20260101T030000Z-ab12cd34')).toBe(
      'restore_drill_shop_nightly_v2_ab12cd34',
    );
    const long = scratchDatabaseName(`/s/${'x'.repeat(120)}-20260101T030000Z-ab12cd34`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^restore_drill_x+_ab12cd34$/);
  });

  it('keeps the password out of tool URLs and passes it in PGPASSWORD, clearing libpq variables', () => {
    const address = parseServerUrl(
      'postgres://restore:p%40ss@db.example:5433/postgres?sslmode=require',
    );
    expect(address).toMatchObject({
      display: 'db.example:5433',
      user: 'restore',
      database: 'postgres',
      password: 'p@ss',
    });
    expect(databaseUrl(address, 'restore_drill_x_1')).toBe(
      'postgres://restore@db.example:5433/restore_drill_x_1?sslmode=require',
    );
    const env = toolEnv(address);
    expect(env.PGPASSWORD).toBe('p@ss');
    expect(env).toHaveProperty('PGHOST', undefined);
    expect(env).toHaveProperty('PGSERVICE', undefined);
  });

  it('accepts a unix socket given as host=, and refuses a URL naming no host', () => {
    expect(
      parseServerUrl('postgres:///postgres?host=/var/run/postgresql&user=restore'),
    ).toMatchObject({ display: '/var/run/postgresql', user: 'restore' });
    expect(() => parseServerUrl('postgres:///postgres')).toThrow(
      'scratchServer.url names no host; the scratch server must be named explicitly',
    );
    expect(() => parseServerUrl('postgres://u@/db')).toThrow(/not a valid URL/);
  });
});
