import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { fsyncPath } from '../evidence/durability.js';
import { parseDuration } from '../model/duration.js';
import type { EvidenceStore } from '../evidence/open-store.js';
import { isCalendarDate } from '../report/controls.js';
import { drillsWithEvidence, loadEvidenceSummary, streamRunRows } from '../report/load-summary.js';
import type { EvidenceSummary } from '../report/drill-summary.js';
import { csvRunLines, csvSummary, type RunRow } from '../report/render-csv.js';
import { renderHtmlReport } from '../report/render-html.js';
import { renderJsonReport } from '../report/render-json.js';
import { NoControlsError, renderOscalReport } from '../report/render-oscal.js';
import {
  cliPath,
  collectRepeatable,
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  withCommonOptions,
  type CommonOptions,
} from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

/**
 * A point in time from a command-line option: a duration back from `now`
 * (`90d`), a day (`2026-01-01`, midnight UTC) or an ISO 8601 time.
 */
export function parseTimeOption(flag: string, text: string, now: Date): Date {
  const duration = parseDuration(text);
  if (duration !== undefined) return new Date(now.getTime() - duration);
  if (isCalendarDate(text)) return new Date(`${text}T00:00:00Z`);
  if (/^\d{4}-\d{2}-\d{2}T/.test(text) && !Number.isNaN(Date.parse(text))) return new Date(text);
  throw new CliError(
    `${flag}: '${text}' is not a duration or a date; expected e.g. 90d, 2026-01-01 or 2026-01-01T00:00:00Z`,
    ExitCode.Usage,
  );
}

interface ReportOptions extends CommonOptions {
  since: string;
  until?: string;
  format: 'html' | 'csv' | 'json' | 'oscal';
  out?: string;
  drill: string[];
}

/** `restore-drill report`: the evidence of a period as one HTML file, CSV, or the JSON summary model. */
export function reportCommand(): Command {
  const command = new Command('report')
    .description(
      'Write a report of the drills over a period: HTML (self-contained, prints to PDF), CSV (one row per run), JSON, or OSCAL 1.1 assessment results (JSON)',
    )
    .option(
      '--since <when>',
      'start of the period: a duration back from now (90d) or a date (2026-01-01)',
      '90d',
    )
    .option('--until <when>', 'end of the period (exclusive); now when absent')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['html', 'csv', 'json', 'oscal'])
        .default('html'),
    )
    .option(
      '-o, --out <file>',
      'write to this file instead of stdout; CSV: the runs to <file>, the per-drill summary beside it (runs.csv: runs.summary.csv)',
    )
    .option('-d, --drill <name>', 'only this drill (repeatable)', collectRepeatable, []);
  withCommonOptions(command, { json: false }).action(async (options: ReportOptions) => {
    const now = new Date();
    const since = parseTimeOption('--since', options.since, now);
    const until =
      options.until === undefined ? now : parseTimeOption('--until', options.until, now);
    if (since.getTime() >= until.getTime())
      throw new CliError(
        `--since (${since.toISOString()}) must be before --until (${until.toISOString()})`,
        ExitCode.Usage,
      );
    const loaded = await loadConfigOrExit(options);
    const log = loggerFor(options);
    const store = await openStoreFor(loaded, log);
    try {
      const drills = loaded.config.drills;
      const only = options.drill.length > 0 ? [...new Set(options.drill)] : undefined;
      if (only) await checkDrillNames(store, only, new Set(drills.map((drill) => drill.name)));
      const summary = await loadEvidenceSummary(store.db, drills, {
        since,
        until,
        now,
        only,
        maxUnreviewedMs: loaded.config.review.maxUnreviewed,
      });
      const out = options.out === undefined ? undefined : cliPath(options.out);
      if (options.format === 'csv') {
        const rows = () => streamRunRows(store.db, { since, until, only });
        if (out === undefined) {
          // Two tables on one stream: the runs, one blank line, then the per-drill summary.
          await writeLines(process.stdout, csvRunLines(rows()));
          await writeText(process.stdout, `\r\n${csvSummary(summary)}`);
        } else {
          const summaryFile = out.replace(/(\.csv)?$/i, '.summary.csv');
          await writeFileAtomically(out, (stream) => writeLines(stream, csvRunLines(rows())));
          await writeFileAtomically(summaryFile, (stream) =>
            writeText(stream, csvSummary(summary)),
          );
          log.info({ runs: out, summary: summaryFile }, 'report written');
        }
        return;
      }
      const text =
        options.format === 'oscal'
          ? await oscalText(summary, streamRunRows(store.db, { since, until, only }))
          : options.format === 'html'
            ? renderHtmlReport(summary)
            : renderJsonReport(summary);
      if (out === undefined) await writeText(process.stdout, text);
      else {
        await writeFileAtomically(out, (stream) => writeText(stream, text));
        log.info(
          { file: out, drills: summary.totals.drills, runs: summary.totals.runs },
          'report written',
        );
      }
    } finally {
      await store.close();
    }
  });
  return command;
}

/** The OSCAL document as text; no control named in config is a usage error. */
async function oscalText(summary: EvidenceSummary, runs: AsyncIterable<RunRow>): Promise<string> {
  try {
    return `${JSON.stringify(await renderOscalReport(summary, runs), null, 2)}\n`;
  } catch (error) {
    if (error instanceof NoControlsError) throw new CliError(error.message, ExitCode.Usage);
    throw error;
  }
}

/** Every `--drill` must be configured or have evidence (a retired drill's runs can still be reported). */
async function checkDrillNames(
  store: EvidenceStore,
  names: readonly string[],
  configured: ReadonlySet<string>,
): Promise<void> {
  const unknown = names.filter((name) => !configured.has(name));
  if (unknown.length === 0) return;
  const known = await drillsWithEvidence(store.db, unknown);
  const missing = unknown.filter((name) => !known.has(name));
  if (missing.length > 0) {
    throw new CliError(
      `--drill: ${missing.map((name) => `'${name}'`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not a configured drill and ${missing.length === 1 ? 'has' : 'have'} no evidence; configured: ${[...configured].join(', ')}`,
      ExitCode.Usage,
    );
  }
}

async function writeText(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

async function writeLines(stream: Writable, lines: AsyncIterable<string>): Promise<void> {
  for await (const line of lines) await writeText(stream, line);
}

/**
 * Writes beside the target, fsyncs, renames and fsyncs the folder: a failed report never
 * leaves half a file under the name, and a written one survives a power loss.
 */
export async function writeFileAtomically(
  file: string,
  write: (stream: Writable) => Promise<void>,
): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  const stream = createWriteStream(temporary, { flags: 'wx' });
  try {
    await once(stream, 'open');
    await write(stream);
    stream.end();
    await finished(stream);
    // On disk before success is reported: the file's data, then its name in the folder.
    await fsyncPath(temporary);
    await rename(temporary, file);
    await fsyncPath(dirname(file));
  } catch (error) {
    stream.destroy();
    await rm(temporary, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')
      throw new CliError(`cannot write ${file}: ${(error as Error).message}`, ExitCode.Failed);
    throw error;
  }
}
