import { describe, expect, it } from 'vitest';
import {
  judgeStatementFailure,
  majorOfVersionNum,
  pgDumpMajorOf,
} from '../../../src/sources/postgres/statement-damage.js';

describe('judging a failed statement of a plain dump', () => {
  const same = { dump: 17, target: 17 };

  it('calls bad SQL and bad data damage, and what the target lacks not judged', () => {
    expect(judgeStatementFailure('42601', same)).toEqual({ verdict: 'damage' });
    expect(judgeStatementFailure('22P04', same)).toEqual({ verdict: 'damage' });
    // undefined_object (a role), invalid_schema_name, undefined_table: a partial dump or a bare target.
    for (const code of ['42704', '3F000', '42P01', null])
      expect(judgeStatementFailure(code, same)).toEqual({ verdict: 'error', note: null });
  });

  it('does not judge bad SQL restored into a PostgreSQL older than the pg_dump', () => {
    expect(judgeStatementFailure('42601', { dump: 18, target: 16 })).toEqual({
      verdict: 'error',
      note: 'pg_dump 18 made the dump and it was restored into PostgreSQL 16: restore it into PostgreSQL 18 or newer to judge it',
    });
    expect(judgeStatementFailure('42601', { dump: null, target: 16 })).toEqual({
      verdict: 'damage',
    });
  });

  it('reads major versions from a dump header and from server_version_num', () => {
    expect(pgDumpMajorOf('--\n-- Dumped by pg_dump version 9.6.24\n')).toBe(9);
    expect(pgDumpMajorOf('-- Dumped from database version 17.2\n')).toBeNull();
    expect(majorOfVersionNum('170004')).toBe(17);
    expect(majorOfVersionNum(90624)).toBe(9);
  });
});
