import { describe, expect, it } from 'vitest';
import { formatRunSummary } from '../../src/cli/format.js';
import { makeRecord } from '../helpers/run-records.js';

const failedSql = {
  name: 'sql:orders',
  verdict: 'failed' as const,
  expected: { min: 1 },
  actual: { error: 'relation "public.orders" does not exist' },
  detail: 'query failed: relation "public.orders" does not exist',
};

const unclosedQuote =
  'not valid CSV: a quote is never closed (the file ends inside a quoted field, at line 1147)';

const gzipExit = {
  expected: { exitCode: 0 },
  actual: { exitCode: 1, stderrTail: '\ngzip: x.csv: not in gzip format' },
};

describe('the run summary run and show print', () => {
  it("shows an error run's cause even when a check before the broken one failed", () => {
    const summary = formatRunSummary(
      makeRecord({
        verdict: 'error',
        cause: 'check.broken: command:amcheck: cannot start "pg_amcheck"',
        checks: [failedSql],
      }),
    );
    expect(summary).toContain('        cause: check.broken: command:amcheck: cannot start');
    expect(summary).toContain('        x sql:orders: query failed');
  });

  it("leaves a failed run's cause to its first failed check, listed once", () => {
    const summary = formatRunSummary(
      makeRecord({
        verdict: 'failed',
        cause: `check.failed: sql:orders: ...`,
        checks: [failedSql],
      }),
    );
    expect(summary).not.toContain('cause:');
  });

  it('keeps a finding on one line when a value holds newlines, and says nothing of an absent expectation', () => {
    const summary = formatRunSummary(
      makeRecord({
        verdict: 'failed',
        checks: [
          {
            name: 'command:gz',
            verdict: 'failed',
            ...gzipExit,
            detail: 'gzip -t x.csv: exit code 1: gzip: x.csv:\nnot in gzip format',
            findings: [
              { item: 'command:gz', problem: 'command-failed', ...gzipExit },
              { item: 'orders.csv', problem: 'unreadable', actual: unclosedQuote },
            ],
            findingsTotal: 2,
          },
        ],
      }),
    );
    const lines = summary.split('\n');
    expect(lines.slice(1)).toEqual([
      '        x command:gz: gzip -t x.csv: exit code 1: gzip: x.csv:\\nnot in gzip format',
      '            command-failed: command:gz (expected exitCode 0, found exitCode 1, stderrTail gzip: x.csv: not in gzip format)',
      `            unreadable: orders.csv (${unclosedQuote})`,
    ]);
  });

  it('counts the tables of a database restore instead of printing 0 files, 0 B', () => {
    const tables = makeRecord({
      checks: [],
      restored: { files: 0, bytes: 0, tables: 5 },
      timings: { selectMs: 0, restoreMs: 0, verifyMs: 0, cleanupMs: 0, totalMs: 2710 },
    });
    expect(formatRunSummary(tables).split('\n')[0]).toMatch(/ \(5 tables in 2\.71s, run /);
    const both = makeRecord({ checks: [], restored: { files: 2, bytes: 2048, tables: 1 } });
    expect(formatRunSummary(both).split('\n')[0]).toMatch(/ \(1 table, 2 files, 2\.0\d? KB in /);
  });
});
