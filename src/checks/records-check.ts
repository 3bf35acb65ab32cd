import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import { z } from 'zod';
import { localPathSchema } from '../model/local-path.js';
import type { RunRecord } from '../evidence/run-record.js';
import { countRecords, recognise, type RecordCount } from '../records/count-records.js';
import { type Check, type CheckContext } from './check.js';
import { resultFromFindings, type CheckResult, type Finding } from '../model/check-result.js';
import { defineCheckKind, type CheckBuild } from './check-kind.js';
import { listFindings, plural } from '../model/describe.js';
import { ManifestLoader } from './manifest-check.js';
import {
  countBaseline,
  refineManifestBaseline,
  toleranceSchema,
  type TablesBaseline,
} from './tables-check.js';

/** `checks.records`: which restored files to count, and what to compare the counts with. */
export const recordsCheckConfigSchema = z
  .strictObject({
    files: z
      .string()
      .min(1)
      .describe(
        "Glob over the restored files whose records to count, relative to the restore: 'exports/**/*.csv'. CSV, TSV, JSON Lines and SQLite files are recognised by name.",
      ),
    from: z
      .enum(['manifest', 'last-pass'])
      .describe(
        "manifest: the counts checks.manifest (format restore-drill, written by 'restore-drill manifest PATH') recorded at backup time; last-pass: the counts of this drill's last passing run (growth passes, a drop beyond the tolerance fails).",
      ),
    manifest: localPathSchema
      .optional()
      .describe(
        "With from: manifest, the restore-drill manifest holding the counts, when it is not checks.manifest: relative (inside the set), absolute, or with {set} ('{set}.records.json'). Absent: checks.manifest (format restore-drill).",
      ),
    tolerance: toleranceSchema
      .default(0)
      .describe(
        "How far a file's record count may drift from the expected count, in percent of it: '0%' (exact), '5%'.",
      ),
  })
  .refine((config) => config.manifest === undefined || config.from === 'manifest', {
    path: ['manifest'],
    message: 'manifest names where from: manifest reads the counts; it needs from: manifest',
  })
  .describe(
    'Count the records of restored CSV/TSV/JSON Lines files and the rows of SQLite tables, and compare them with the counts at backup time or at the last passing run.',
  );

/** `checks.records`, parsed (tolerance in percent). */
export type RecordsCheckConfig = z.output<typeof recordsCheckConfigSchema>;

/** Where the expected counts come from (the same choice as the tables check's). */
export type RecordsBaseline = TablesBaseline;

/** The per-file counts a records check recorded in a run, for `from: last-pass`. */
export function recordedCounts(record: RunRecord | undefined): Map<string, RecordCount> | null {
  const result = record?.checks.find((check) => check.name === 'records');
  const files = (result?.actual as { files?: unknown } | undefined)?.files;
  if (files === null || typeof files !== 'object') return null;
  return new Map(Object.entries(files as Record<string, RecordCount>));
}

/** Per unit (the file itself, or each SQLite table) expected and actual counts. */
function units(count: RecordCount): Map<string, number> {
  return typeof count === 'number' ? new Map([['', count]]) : new Map(Object.entries(count));
}

/**
 * `records`: counts the records of every restored file the glob matches (streaming) and
 * compares each with its expected count: from the manifest, exact within the tolerance
 * both ways; from the last passing run, only a drop beyond the tolerance fails (data
 * grows). Findings name the file (and the SQLite table): fewer-records, more-records,
 * missing (listed with records but not restored), unreadable (does not parse).
 */
export class RecordsCheck implements Check {
  readonly name = 'records';

  constructor(
    private readonly config: RecordsCheckConfig,
    private readonly baseline: RecordsBaseline,
  ) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const matched = (
      await glob(this.config.files, {
        cwd: context.scratchDir,
        onlyFiles: true,
        dot: true,
        followSymbolicLinks: false,
      })
    ).sort();
    const findings: Finding[] = [];
    const actual: Record<string, RecordCount> = {};
    for (const path of matched) {
      context.signal?.throwIfAborted();
      const file = `${context.scratchDir}/${path}`;
      const format = await recognise(file);
      if (format === null) {
        findings.push({
          item: path,
          problem: 'unrecognised',
          expected: 'a .csv, .tsv, .jsonl, .ndjson, .sqlite, .sqlite3 or SQLite .db file',
        });
        continue;
      }
      try {
        actual[path] = await countRecords(file, format, { signal: context.signal });
      } catch (error) {
        context.signal?.throwIfAborted();
        findings.push({ item: path, problem: 'unreadable', actual: (error as Error).message });
      }
    }
    const expected = await this.#expected(context);
    if (typeof expected === 'string') {
      return [
        {
          name: this.name,
          verdict: 'failed',
          expected: { from: this.config.from },
          actual: { files: actual },
          detail: expected,
          findings: [{ item: 'records', problem: 'cannot-compare', actual: expected }],
          findingsTotal: 1,
        },
      ];
    }
    if (expected === null) {
      // Nothing to compare with yet, but a file that does not parse, or no file at all, is no baseline.
      if (matched.length === 0) findings.push(this.#noFiles());
      if (findings.length > 0)
        return [
          resultFromFindings(this.name, findings, {
            expected: { from: 'last-pass', run: null },
            actual: { files: actual },
            passDetail: '',
            failDetail: (all) =>
              `${plural(all.length, 'problem')} with records (no earlier passing run to compare with): ${listFindings(all)}`,
          }),
        ];
      return [
        {
          name: this.name,
          verdict: 'warning',
          expected: { from: 'last-pass', run: null },
          actual: { files: actual },
          detail: `no earlier passing run to compare with; records of ${plural(matched.length, 'file')} recorded as the baseline`,
        },
      ];
    }
    const tolerance = this.config.tolerance;
    const dropOnly = this.config.from === 'last-pass';
    let compared = 0;
    let outsideSample = 0;
    for (const [path, count] of expected.counts) {
      if (!matched.includes(path) && !picomatch(this.config.files, { dot: true })(path)) continue;
      if (context.sample !== null && !context.sample.has(path)) {
        outsideSample += 1;
        continue;
      }
      compared += 1;
      const found = actual[path];
      if (found === undefined) {
        if (!matched.includes(path))
          findings.push({
            item: path,
            problem: 'missing',
            expected: { records: count },
            actual: null,
          });
        continue;
      }
      const foundUnits = units(found);
      for (const [unit, want] of units(count)) {
        const item = unit === '' ? path : `${path} table ${unit}`;
        const got = foundUnits.get(unit);
        const allowed = (want * tolerance) / 100;
        if (got === undefined) {
          findings.push({ item, problem: 'missing', expected: { records: want }, actual: null });
        } else if (got < want - allowed || (!dropOnly && got > want + allowed)) {
          findings.push({
            item,
            problem: got < want ? 'fewer-records' : 'more-records',
            expected: {
              records: want,
              ...(tolerance > 0
                ? { tolerance: `${tolerance}%`, min: Math.ceil(want - allowed) }
                : {}),
            },
            actual: { records: got },
          });
        }
      }
    }
    // A check that compared nothing verified nothing: fail, unless the sample left the counted files out.
    if (compared === 0 && outsideSample === 0)
      findings.push(
        matched.length === 0
          ? this.#noFiles()
          : {
              item: this.config.files,
              problem: 'no-counts',
              expected: `record counts in ${expected.describe} for the files the glob matches`,
              actual: `${plural(matched.length, 'restored file')}, none counted there`,
            },
      );
    const within = tolerance > 0 ? ` within ${tolerance}%` : '';
    return [
      resultFromFindings(this.name, findings, {
        expected: {
          from: this.config.from,
          ...expected.source,
          files: compared,
          tolerance: `${tolerance}%`,
        },
        actual: { files: actual },
        passDetail: `records of ${plural(compared, 'file')} match ${expected.describe}${within}`,
        failDetail: (all) =>
          `${plural(all.length, 'problem')} with records against ${expected.describe}${within}: ${listFindings(all)}`,
      }),
    ];
  }

  #noFiles(): Finding {
    return {
      item: this.config.files,
      problem: 'no-files',
      expected: 'at least one',
      actual: 'the glob matched no restored file',
    };
  }

  async #expected(
    context: CheckContext,
  ): Promise<
    | { counts: Map<string, RecordCount>; describe: string; source: Record<string, unknown> }
    | null
    | string
  > {
    if (this.baseline.from === 'last-pass') {
      const run = this.baseline.run;
      if (run === undefined) return null;
      const counts = recordedCounts(run);
      if (counts === null)
        return `the last passing run ${run.runId} recorded no record counts (it ran without a records check)`;
      return {
        counts,
        describe: `the last passing run (${run.runId.slice(0, 8)}, ${run.startedAt})`,
        source: { run: run.runId },
      };
    }
    const loaded = await this.baseline.loader.load(context);
    if (!loaded.ok) return `manifest ${loaded.location.display} cannot be used: ${loaded.reason}`;
    const counts = new Map<string, RecordCount>();
    for (const [path, entry] of loaded.manifest.files)
      if (entry.records !== undefined) counts.set(path, entry.records);
    return {
      counts,
      describe: `manifest ${loaded.location.display}`,
      source: { manifest: loaded.location.display },
    };
  }
}

/** The records check's baseline: its own `manifest:`, else the drill's manifest or last passing run. */
function recordsBaseline(config: RecordsCheckConfig, build: CheckBuild): RecordsBaseline {
  if (config.from === 'manifest' && config.manifest !== undefined)
    return {
      from: 'manifest',
      loader: new ManifestLoader({ format: 'restore-drill', path: config.manifest }),
    };
  return countBaseline(config.from, build);
}

const refineDrillManifest = refineManifestBaseline(
  'records',
  "the manifest 'restore-drill manifest PATH' writes with record counts; or name it with records.manifest",
);

/** `checks.records`: its baseline is its own manifest, the drill's manifest, or its last passing run. */
export const recordsCheckKind = defineCheckKind({
  kind: 'records',
  section: 'checks',
  configSchema: recordsCheckConfigSchema.optional(),
  phase: 'data',
  needs: (config) =>
    config.from === 'last-pass' ? ['lastPass'] : config.manifest === undefined ? ['manifest'] : [],
  manifests: (config) => (config.manifest === undefined ? [] : [{ path: config.manifest }]),
  create: (config, build) => [new RecordsCheck(config, recordsBaseline(config, build))],
  refine: (checks, ctx) => {
    if ((checks.records as { manifest?: string } | undefined)?.manifest === undefined)
      refineDrillManifest(checks, ctx);
  },
});
