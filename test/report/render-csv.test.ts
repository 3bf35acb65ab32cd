import { describe, expect, it } from 'vitest';
import { runPointOf } from '../../src/report/drill-summary.js';
import {
  csvField,
  csvRunLines,
  csvSummary,
  RUN_COLUMNS,
  SUMMARY_COLUMNS,
} from '../../src/report/render-csv.js';
import { renderJsonReport } from '../../src/report/render-json.js';
import { HOSTILE, reportFixture } from './report-fixture.js';

/** A small RFC 4180 parser, to read back what was written. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += char;
  }
  expect(field).toBe('');
  expect(row).toEqual([]);
  return rows;
}

async function collect(lines: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const line of lines) out += line;
  return out;
}

describe('CSV report', () => {
  const { records, summary } = reportFixture();

  it('writes a header and one row per run, every row as wide as the header', async () => {
    const rows = parseCsv(
      await collect(
        csvRunLines(
          records.map((record, index) => ({
            ...runPointOf(record, index + 1),
            recordHash: 'f'.repeat(64),
          })),
        ),
      ),
    );
    expect(rows[0]).toEqual([...RUN_COLUMNS]);
    expect(rows).toHaveLength(records.length + 1);
    for (const row of rows) expect(row).toHaveLength(RUN_COLUMNS.length);
    const first = Object.fromEntries(
      RUN_COLUMNS.map((column, index) => [column, rows[1]?.[index]]),
    );
    expect(first).toMatchObject({
      seq: '1',
      run_id: records[0]?.runId,
      drill: 'all-passing',
      verdict: 'passed',
      restore_verify_ms: '90000',
      cause: '',
      record_hash: 'f'.repeat(64),
    });
  });

  it('quotes commas, quotes and line breaks, and defuses text a spreadsheet would run as a formula', async () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(-5)).toBe('-5');
    expect(csvField(null)).toBe('');
    const hostile = records.find((record) => record.cause === HOSTILE);
    const rows = parseCsv(await collect(csvRunLines([runPointOf(hostile!)])));
    expect(rows[1]?.[RUN_COLUMNS.indexOf('cause')]).toBe(HOSTILE);
    expect(rows[1]?.[RUN_COLUMNS.indexOf('set_path')]).toBe('/backups/<evil>&"x".tar');
  });

  it('writes the per-drill summary with the drills needing attention first', () => {
    const rows = parseCsv(csvSummary(summary));
    expect(rows[0]).toEqual([...SUMMARY_COLUMNS]);
    const column = (name: (typeof SUMMARY_COLUMNS)[number]) =>
      rows.slice(1).map((row) => row[SUMMARY_COLUMNS.indexOf(name)]);
    expect(column('drill')).toEqual([
      'no-runs',
      'waived-expired',
      'overdue',
      'failing',
      'waived-active',
      'all-passing',
    ]);
    expect(column('state')).toEqual(['red', 'red', 'red', 'red', 'waived', 'green']);
    expect(column('never_passed')).toEqual(['true', 'true', 'false', 'false', 'false', 'false']);
    expect(column('pass_rate')).toEqual(['', '0', '1', '0.5', '0.5', '1']);
    expect(column('expired_waivers')).toEqual(['0', '1', '0', '0', '0', '0']);
    expect(column('last_failure_cause')[3]).toBe(HOSTILE);
  });
});

describe('JSON report', () => {
  it('is the summary model itself', () => {
    const { summary } = reportFixture();
    const parsed = JSON.parse(renderJsonReport(summary)) as typeof summary;
    expect(parsed).toEqual(summary);
    expect(Object.keys(parsed)).toEqual([
      'generatedAt',
      'window',
      'totals',
      'drills',
      'coverage',
      'chain',
    ]);
    expect(parsed.coverage.findings[0]).toMatchObject({ drill: 'no-runs', kind: 'never-passed' });
  });
});
