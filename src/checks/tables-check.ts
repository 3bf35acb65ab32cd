import { z } from 'zod';
import type { RunRecord } from '../evidence/run-record.js';
import { digestTables } from '../sources/postgres/table-digests.js';
import type { RestoredTable } from '../model/restore.js';
import { type Check, type CheckContext } from './check.js';
import { resultFromFindings, type CheckResult, type Finding } from '../model/check-result.js';
import { listFindings, plural } from '../model/describe.js';
import type { ManifestLoader } from './manifest-check.js';
import { defineCheckKind, type CheckBuild } from './check-kind.js';

/** A percentage like `5%` (or a plain number of percent), parsed to a number of percent. */
export const toleranceSchema = z
  .union([
    z.number().nonnegative(),
    z.string().regex(/^\d+(\.\d+)?%$/, { message: "expected a percentage like '5%'" }),
  ])
  .transform((value) => (typeof value === 'number' ? value : Number(value.slice(0, -1))))
  .describe(
    "How far a table's row count may drift from the expected count, in percent of it: '0%' (exact), '5%'.",
  );

/** Where expected row counts come from, and how exact they must be. */
export const tablesCheckConfigSchema = z
  .strictObject({
    from: z
      .enum(['manifest', 'last-pass'])
      .describe(
        'manifest: the tables of checks.manifest (format restore-drill, written at backup time); last-pass: the counts of the last passing run of this drill.',
      ),
    tolerance: toleranceSchema.default(0),
  })
  .describe(
    "Compare the restored tables' row counts with the expected counts; each missing table and each count outside the tolerance is named.",
  );

/** `checks.tables`, parsed (tolerance in percent). */
export type TablesCheckConfig = z.output<typeof tablesCheckConfigSchema>;

/** The per-table counts a tables check records, read back from a run for `from: last-pass`. */
export function recordedTables(record: RunRecord | undefined): Map<string, number> | null {
  const result = record?.checks.find((check) => check.name === 'tables');
  const tables = (result?.actual as { tables?: unknown } | undefined)?.tables;
  if (!Array.isArray(tables)) return null;
  const counts = new Map<string, number>();
  for (const entry of tables as Partial<RestoredTable>[]) {
    if (typeof entry?.name === 'string' && typeof entry.rows === 'number')
      counts.set(entry.name, entry.rows);
  }
  return counts;
}

/** What the check compares against: a manifest's tables or an earlier passing run's. */
export type TablesBaseline =
  { from: 'manifest'; loader: ManifestLoader } | { from: 'last-pass'; run: RunRecord | undefined };

/**
 * `tables`: every expected table was restored with a row count within the tolerance.
 * Findings name each missing table and each count outside it (expected vs actual).
 * The counts found are recorded in `actual.tables`, so a later run can use this one
 * as its baseline (`from: last-pass`). When sampling, only the chosen tables are judged.
 * With no earlier passing run there is nothing to compare: a warning, never a pass.
 */
export class TablesCheck implements Check {
  readonly name = 'tables';

  constructor(
    private readonly config: TablesCheckConfig,
    private readonly baseline: TablesBaseline,
  ) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const restored = context.outcome.tables;
    const tolerance = this.config.tolerance;
    if (restored === undefined) {
      return [
        this.#broken(
          { from: this.config.from },
          'the source restored no database: a tables check needs a postgres source',
        ),
      ];
    }
    const found = { tables: restored.map((table) => ({ name: table.name, rows: table.rows })) };
    const expectedCounts = await this.#expected(context);
    if (typeof expectedCounts === 'string')
      return [this.#broken({ from: this.config.from }, expectedCounts, found)];
    if (expectedCounts === null) {
      return [
        {
          name: this.name,
          verdict: 'warning',
          expected: { from: 'last-pass', run: null },
          actual: found,
          detail: `no earlier passing run to compare with; ${plural(restored.length, 'table')} recorded as the baseline`,
        },
      ];
    }
    const actualCounts = new Map(restored.map((table) => [table.name, table.rows]));
    const findings: Finding[] = [];
    let compared = 0;
    for (const [name, rows] of expectedCounts.counts) {
      if (context.sample !== null && !context.sample.has(name)) continue;
      compared += 1;
      const actual = actualCounts.get(name);
      if (actual === undefined) {
        findings.push({
          item: `table ${name}`,
          problem: 'missing',
          expected: { rows },
          actual: null,
        });
        continue;
      }
      const allowed = (rows * tolerance) / 100;
      if (Math.abs(actual - rows) > allowed) {
        findings.push({
          item: `table ${name}`,
          problem: actual < rows ? 'fewer-rows' : 'more-rows',
          expected: {
            rows,
            ...(tolerance > 0
              ? {
                  tolerance: `${tolerance}%`,
                  min: Math.ceil(rows - allowed),
                  max: Math.floor(rows + allowed),
                }
              : {}),
          },
          actual: { rows: actual },
        });
      }
    }
    const digests = await compareDigests(context, expectedCounts.digests, findings);
    const unexpected = restored
      .filter((table) => !expectedCounts.counts.has(table.name))
      .map((table) => table.name);
    const within = tolerance > 0 ? ` within ${tolerance}%` : '';
    return [
      resultFromFindings(this.name, findings, {
        expected: {
          from: this.config.from,
          ...expectedCounts.source,
          tables: compared,
          tolerance: `${tolerance}%`,
          ...(digests.compared > 0 ? { digests: digests.compared } : {}),
        },
        actual: {
          ...found,
          ...(unexpected.length > 0 ? { notExpected: unexpected } : {}),
          ...(digests.compared > 0 ? { digests: digests.actual } : {}),
        },
        passDetail: `${plural(compared, 'table')} match ${expectedCounts.describe}${within}${digests.compared > 0 ? ` (${plural(digests.compared, 'content digest')} equal)` : ''}`,
        failDetail: (all) =>
          `${plural(all.length, 'table')} ${all.length === 1 ? 'differs' : 'differ'} from ${expectedCounts.describe}${within}: ${listFindings(all)}`,
      }),
    ];
  }

  /** Expected counts, or null when there is no earlier run, or a reason they cannot be had. */
  async #expected(context: CheckContext): Promise<
    | {
        counts: Map<string, number>;
        digests?: Map<string, string> | undefined;
        describe: string;
        source: Record<string, unknown>;
      }
    | null
    | string
  > {
    if (this.baseline.from === 'last-pass') {
      const run = this.baseline.run;
      if (run === undefined) return null;
      const counts = recordedTables(run);
      if (counts === null)
        return `the last passing run ${run.runId} recorded no table counts (it ran without a tables check)`;
      return {
        counts,
        describe: `the last passing run (${run.runId.slice(0, 8)}, ${run.startedAt})`,
        source: { run: run.runId },
      };
    }
    const loaded = await this.baseline.loader.load(context);
    if (!loaded.ok) return `manifest ${loaded.location.display} cannot be used: ${loaded.reason}`;
    if (loaded.manifest.tables === undefined)
      return `manifest ${loaded.location.display} lists no tables`;
    return {
      counts: loaded.manifest.tables,
      digests: loaded.manifest.tableDigests,
      describe: `manifest ${loaded.location.display}`,
      source: { manifest: loaded.location.display },
    };
  }

  #broken(expected: unknown, detail: string, actual: unknown = null): CheckResult {
    return {
      name: this.name,
      verdict: 'failed',
      expected,
      actual,
      detail,
      findings: [{ item: 'tables', problem: 'cannot-compare', actual: detail }],
      findingsTotal: 1,
    };
  }
}

/** A digest reads every row of a table: a sequential scan, allowed this long per run. */
const DIGEST_TIMEOUT_MS = 6 * 60 * 60 * 1000;

/**
 * Recomputes, in the restored database, the content digest of every table the manifest
 * gives one for (those in the sample), and adds a `changed-content` finding for each
 * that differs from the manifest's: a changed value with the row count unchanged.
 */
async function compareDigests(
  context: CheckContext,
  expected: Map<string, string> | undefined,
  findings: Finding[],
): Promise<{ compared: number; actual: Record<string, string> }> {
  const database = context.outcome.database;
  if (expected === undefined || expected.size === 0 || database === undefined)
    return { compared: 0, actual: {} };
  // A table already found missing or off in its count needs no second finding.
  const judged = new Set(findings.map((finding) => finding.item));
  const wanted = new Set(
    [...expected.keys()].filter(
      (name) =>
        (context.sample === null || context.sample.has(name)) && !judged.has(`table ${name}`),
    ),
  );
  if (wanted.size === 0) return { compared: 0, actual: {} };
  const computed = await database.readOnly(
    (query) => digestTables(query, { only: wanted, signal: context.signal }),
    { statementTimeoutMs: DIGEST_TIMEOUT_MS },
  );
  const actual = Object.fromEntries(computed.map((table) => [table.name, table.digest]));
  for (const table of computed) {
    const digest = expected.get(table.name);
    if (digest !== undefined && digest !== table.digest)
      findings.push({
        item: `table ${table.name}`,
        problem: 'changed-content',
        expected: { digest },
        actual: { digest: table.digest, rows: table.rows },
      });
  }
  return { compared: computed.length, actual };
}

/** A count check's baseline as its config's `from` says: the drill's manifest or its last passing run. */
export function countBaseline(from: 'manifest' | 'last-pass', build: CheckBuild): TablesBaseline {
  return from === 'manifest' && build.manifest !== null
    ? { from: 'manifest', loader: build.manifest }
    : { from: 'last-pass', run: build.lastPass };
}

/** `<kind>.from: manifest` needs a restore-drill manifest: the format that records the counts. */
export function refineManifestBaseline(
  kind: string,
  what: string,
): (checks: Readonly<Record<string, unknown>>, ctx: z.RefinementCtx) => void {
  return (checks, ctx) => {
    const config = checks[kind] as { from?: string } | undefined;
    const manifest = checks.manifest as { format?: string } | undefined;
    if (config?.from === 'manifest' && manifest?.format !== 'restore-drill') {
      ctx.addIssue({
        code: 'custom',
        path: [kind, 'from'],
        message: `from: manifest needs checks.manifest with format: restore-drill (${what})`,
      });
    }
  };
}

/** `checks.tables`: its baseline is the drill's manifest or its last passing run, as `from` says. */
export const tablesCheckKind = defineCheckKind({
  kind: 'tables',
  section: 'checks',
  configSchema: tablesCheckConfigSchema.optional(),
  phase: 'data',
  needs: (config) => (config.from === 'manifest' ? ['manifest'] : ['lastPass']),
  create: (config, build) => [new TablesCheck(config, countBaseline(config.from, build))],
  refine: refineManifestBaseline('tables', 'the manifest that lists tables'),
});
