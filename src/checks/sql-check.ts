import { z } from 'zod';
import { durationSchema } from '../model/duration.js';
import { type Check, type CheckContext } from './check.js';
import { failedResult, type CheckResult } from '../model/check-result.js';
import { defineCheckKind } from './check-kind.js';

/** The name of one entry of a list kind (`sql`, `commands`): it names the check in evidence. */
export const checkEntryNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  message: 'expected letters, digits, _ . - (starting with a letter or digit)',
});

/** Refuses two entries of one list with the same name ("duplicate assertion name 'a'"). */
export function uniqueNames(
  what: string,
): (entries: readonly { name: string }[], ctx: z.RefinementCtx) => void {
  return (entries, ctx) => {
    const seen = new Set<string>();
    entries.forEach((entry, index) => {
      if (seen.has(entry.name))
        ctx.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `duplicate ${what} name '${entry.name}'`,
        });
      seen.add(entry.name);
    });
  };
}

const scalarSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One assertion: a read-only query and what its first column of its first row must be. */
export const sqlAssertionSchema = z
  .strictObject({
    name: checkEntryNameSchema.describe("Names the check in evidence: 'sql:<name>'."),
    query: z
      .string()
      .min(1)
      .describe(
        "Run read-only against the restored database; its first column of its first row is compared. {setTime} stands for the backup set's time as a timestamptz literal.",
      ),
    expect: z
      .union([
        scalarSchema,
        z
          .strictObject({
            min: z.number().optional().describe('At least this.'),
            max: z.number().optional().describe('At most this.'),
          })
          .refine((range) => range.min !== undefined || range.max !== undefined, {
            message: 'expected min or max',
          }),
      ])
      .describe(
        "The value the query must return (true, 42, 'ok', null), or a numeric range { min, max }.",
      ),
    timeout: durationSchema
      .default(30_000)
      .describe('Statement timeout for the query (default 30s).'),
  })
  .describe('A SQL assertion over the restored database.');

/** `checks.sql`: assertions run against the restored database, each its own check. */
export const sqlCheckConfigSchema = z
  .array(sqlAssertionSchema)
  .min(1)
  .superRefine(uniqueNames('assertion'))
  .describe(
    'SQL assertions run against the restored database, read-only, e.g. that the newest order is younger than the backup.',
  );

export type SqlAssertion = z.output<typeof sqlAssertionSchema>;

/** A query result value as evidence: dates as ISO text, int8 and numeric kept as text unless compared as numbers. */
function evidenceValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (value === undefined) return null;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return value;
}

/** `'12'` (int8, numeric) equals 12; `'t'` is not true: only what PostgreSQL's own types give is compared. */
function matches(expected: z.output<typeof scalarSchema>, actual: unknown): boolean {
  if (expected === null) return actual === null;
  if (typeof expected === 'number')
    return actual !== null && actual !== '' && Number(actual) === expected;
  if (typeof expected === 'boolean') return actual === expected;
  return String(actual) === expected;
}

function inRange(
  range: { min?: number | undefined; max?: number | undefined },
  actual: unknown,
): boolean {
  if (actual === null || actual === '' || typeof actual === 'boolean') return false;
  const value = Number(actual);
  if (!Number.isFinite(value)) return false;
  return (
    (range.min === undefined || value >= range.min) &&
    (range.max === undefined || value <= range.max)
  );
}

/** The query with `{setTime}` replaced by the set's time as a literal (or NULL when unknown). */
export function expandQuery(query: string, context: Pick<CheckContext, 'set'>): string {
  const time = context.set.mtime;
  return query.replaceAll(
    '{setTime}',
    time === null ? 'NULL::timestamptz' : `'${time.toISOString()}'::timestamptz`,
  );
}

/**
 * `sql:<name>`: a query run against the restored database in a READ ONLY transaction
 * with a statement timeout, its first value compared with `expect`. A query that fails
 * (a syntax error, a write, a timeout) fails the check with the database's message.
 */
export class SqlCheck implements Check {
  readonly name: string;

  constructor(private readonly assertion: SqlAssertion) {
    this.name = `sql:${assertion.name}`;
  }

  async run(context: CheckContext): Promise<CheckResult[]> {
    const { expect } = this.assertion;
    const expected = { query: this.assertion.query, expect };
    const database = context.outcome.database;
    if (database === undefined) {
      return [
        this.#failed(
          expected,
          { error: 'no database' },
          'the source restored no database to query: sql checks need a postgres source',
        ),
      ];
    }
    const text = expandQuery(this.assertion.query, context);
    let rows: Record<string, unknown>[];
    let fields: { name: string }[];
    try {
      ({ rows, fields } = await database.readOnly((query) => query(text), {
        statementTimeoutMs: this.assertion.timeout,
      }));
    } catch (error) {
      context.signal?.throwIfAborted();
      const message = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
      return [this.#failed(expected, { error: message }, `query failed: ${message}`)];
    }
    const first = rows[0];
    const column = fields[0]?.name;
    const value = first === undefined || column === undefined ? null : evidenceValue(first[column]);
    const actual = { value, rows: rows.length };
    const ok =
      expect !== null && typeof expect === 'object'
        ? inRange(expect, value)
        : matches(expect, value);
    const wanted =
      expect !== null && typeof expect === 'object'
        ? describeRange(expect)
        : JSON.stringify(expect);
    if (ok)
      return [
        {
          name: this.name,
          verdict: 'passed',
          expected,
          actual,
          detail: `returned ${JSON.stringify(value)}, expected ${wanted}`,
        },
      ];
    return [
      this.#failed(
        expected,
        actual,
        `returned ${JSON.stringify(value)}${rows.length === 0 ? ' (no rows)' : ''}, expected ${wanted}`,
      ),
    ];
  }

  #failed(expected: unknown, actual: unknown, detail: string): CheckResult {
    return failedResult(this.name, 'assertion-failed', { expected, actual, detail });
  }
}

function describeRange(range: { min?: number | undefined; max?: number | undefined }): string {
  if (range.min !== undefined && range.max !== undefined)
    return `between ${range.min} and ${range.max}`;
  return range.min !== undefined ? `at least ${range.min}` : `at most ${range.max}`;
}

/** `checks.sql`: one check per assertion, named `sql:<name>`. */
export const sqlCheckKind = defineCheckKind({
  kind: 'sql',
  section: 'checks',
  configSchema: sqlCheckConfigSchema.optional(),
  phase: 'data',
  create: (assertions) => assertions.map((assertion) => new SqlCheck(assertion)),
});
