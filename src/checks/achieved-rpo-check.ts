import { lstat } from 'node:fs/promises';
import { glob } from 'tinyglobby';
import { z } from 'zod';
import { durationSchema, formatDuration } from '../model/duration.js';
import { recognise } from '../records/count-records.js';
import { newestFieldTime, timeOf } from '../records/newest-time.js';
import { type Check, type CheckContext } from './check.js';
import { failedResult, type CheckResult, type Finding } from '../model/check-result.js';
import { defineCheckKind } from './check-kind.js';
import { listFindings, plural } from '../model/describe.js';

/** `checks.achievedRpo`: where the newest timestamp of the restored data is found. */
export const achievedRpoConfigSchema = z
  .union([
    z.strictObject({
      query: z
        .string()
        .min(1)
        .describe(
          "Run read-only on the restored database (postgres drills); its first value is the newest time in the data: 'select max(created_at) from orders'.",
        ),
      timeout: durationSchema
        .default(30_000)
        .describe('Statement timeout for the query (default 30s).'),
    }),
    z.strictObject({
      files: z
        .string()
        .min(1)
        .describe("Glob over the restored files, relative to the restore: 'exports/*.csv'."),
      field: z
        .string()
        .min(1)
        .describe(
          'The CSV/TSV column (named in the header line) or JSON Lines key holding a time, or mtime for the newest modification time of the files.',
        ),
    }),
  ])
  .describe(
    'The newest timestamp in the restored data: the run records it, its age at the backup and at the run, and fails when the age at the run exceeds targets.rpo.',
  );

export type AchievedRpoConfig = z.output<typeof achievedRpoConfigSchema>;

/** The newest time found, or why none could be. */
type Newest =
  { ok: true; ms: number; from: string; skipped?: Finding[] } | { ok: false; findings: Finding[] };

/**
 * `achievedRpo`: the data-loss window. Finds the newest timestamp in the restored data
 * (a SQL query, a field of restored files, or their newest mtime) and records how old
 * the data was at the time of the backup (set time − newest) and at the run (start −
 * newest); fails when the age at the run is beyond targets.rpo, or when no time is found.
 */
export class AchievedRpoCheck implements Check {
  readonly name = 'achievedRpo';

  constructor(
    private readonly config: AchievedRpoConfig,
    private readonly rpoMs: number,
  ) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const expected = {
      ...('query' in this.config
        ? { query: this.config.query }
        : { files: this.config.files, field: this.config.field }),
      maxAge: formatDuration(this.rpoMs),
      maxAgeMs: this.rpoMs,
    };
    const newest = 'query' in this.config ? await this.#query(context) : await this.#files(context);
    if (!newest.ok) {
      const first = newest.findings[0]!;
      return [
        {
          ...failedResult(this.name, first.problem, {
            expected,
            actual: { newest: null },
            detail: `no newest time in the restored data: ${listFindings(newest.findings)}${newest.findings.length === 1 ? `: ${String(first.actual)}` : ''}`,
          }),
          findings: newest.findings,
          findingsTotal: newest.findings.length,
        },
      ];
    }
    const ageMs = context.startedAt.getTime() - newest.ms;
    const setTime = context.set.mtime;
    const ageAtBackupMs = setTime === null ? null : setTime.getTime() - newest.ms;
    const actual = {
      newest: new Date(newest.ms).toISOString(),
      from: newest.from,
      ageAtRun: formatDuration(Math.max(0, ageMs)),
      ageAtRunMs: ageMs,
      ageAtBackup: ageAtBackupMs === null ? null : formatDuration(Math.max(0, ageAtBackupMs)),
      ageAtBackupMs,
      ...(newest.skipped ? { skipped: newest.skipped } : {}),
    };
    const atBackup =
      ageAtBackupMs === null ? '' : `, ${formatDuration(Math.max(0, ageAtBackupMs))} at the backup`;
    const within = ageMs <= this.rpoMs;
    const detail = `newest data ${actual.newest} (${newest.from}) is ${actual.ageAtRun} old at the run${atBackup}: ${within ? 'within' : 'beyond'} the RPO of ${formatDuration(this.rpoMs)}`;
    if (within) return [{ name: this.name, verdict: 'passed', expected, actual, detail }];
    return [failedResult(this.name, 'data-too-old', { expected, actual, detail })];
  }

  async #query(context: CheckContext): Promise<Newest> {
    if (!('query' in this.config)) throw new Error('internal: not a query config');
    const { query, timeout } = this.config;
    const database = context.outcome.database;
    if (database === undefined)
      return missing('database', 'no-database', 'the source restored no database to query');
    let value: unknown;
    try {
      const { rows, fields } = await database.readOnly((run) => run(query), {
        statementTimeoutMs: timeout,
      });
      const column = fields[0]?.name;
      value = column === undefined ? undefined : rows[0]?.[column];
    } catch (error) {
      context.signal?.throwIfAborted();
      const message = ((error as Error).message ?? String(error)).split('\n')[0] ?? '';
      return missing('query', 'query-failed', message);
    }
    const ms = timeOf(value);
    if (ms === null)
      return missing(
        'query',
        'no-time',
        `it returned ${JSON.stringify(value ?? null)}, not a time`,
      );
    return { ok: true, ms, from: 'query' };
  }

  async #files(context: CheckContext): Promise<Newest> {
    if ('query' in this.config) throw new Error('internal: not a files config');
    const { files, field } = this.config;
    const matched = (
      await glob(files, { cwd: context.scratchDir, onlyFiles: true, dot: true })
    ).sort();
    if (matched.length === 0)
      return missing(files, 'no-files', 'the glob matched no restored file');
    const findings: Finding[] = [];
    let newestMs: number | null = null;
    let newestFile = '';
    for (const path of matched) {
      context.signal?.throwIfAborted();
      const file = `${context.scratchDir}/${path}`;
      let ms: number | null;
      if (field === 'mtime') ms = (await lstat(file)).mtimeMs;
      else {
        const format = await recognise(file);
        if (format === null || format === 'sqlite') {
          findings.push({
            item: path,
            problem: 'unrecognised',
            expected: 'a CSV, TSV or JSON Lines file',
          });
          continue;
        }
        try {
          const found = await newestFieldTime(file, format, field, { signal: context.signal });
          ms = found.newestMs;
          if (ms === null)
            findings.push({
              item: path,
              problem: 'no-time',
              expected: `times in ${field}`,
              actual: { notTimes: found.notTimes },
            });
        } catch (error) {
          context.signal?.throwIfAborted();
          findings.push({ item: path, problem: 'unreadable', actual: (error as Error).message });
          continue;
        }
      }
      if (ms !== null && (newestMs === null || ms > newestMs)) {
        newestMs = ms;
        newestFile = path;
      }
    }
    if (newestMs === null) return { ok: false, findings };
    const by = field === 'mtime' ? 'mtime of' : `${field} in`;
    return {
      ok: true,
      ms: newestMs,
      from: `${by} ${newestFile}, newest of ${plural(matched.length, 'file')}`,
      // A file without a time cannot make the data look fresher: recorded, not failed.
      ...(findings.length > 0 ? { skipped: findings } : {}),
    };
  }
}

function missing(item: string, problem: string, actual: string): Newest {
  return { ok: false, findings: [{ item, problem, actual }] };
}

/** `checks.achievedRpo`: judged against targets.rpo (the config refuses it without one). */
export const achievedRpoCheckKind = defineCheckKind({
  kind: 'achievedRpo',
  section: 'checks',
  configSchema: achievedRpoConfigSchema.optional(),
  phase: 'targets',
  create: (config, build) =>
    build.rpoMs === undefined ? [] : [new AchievedRpoCheck(config, build.rpoMs)],
});
