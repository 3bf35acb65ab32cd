import type { DrillSummary, EvidenceSummary, RunPoint } from './drill-summary.js';

// RFC 4180 CSV: comma separated, CRLF line ends, fields quoted when they hold a
// comma, quote or line break. Text that a spreadsheet would run as a formula
// (starting with = + - @ or a tab/CR) is prefixed with a single quote: a cause or
// a path written by someone else must not execute in the auditor's spreadsheet.

/** A run as one CSV row: its figures, and its chain hash when read from the database. */
export type RunRow = RunPoint & { recordHash?: string | undefined };

type Cell = string | number | boolean | null | undefined;

/** One CSV field. Numbers are written as they are; text is guarded and quoted. */
export function csvField(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(cells: readonly Cell[]): string {
  return `${cells.map(csvField).join(',')}\r\n`;
}

/** Column names of the runs table. */
export const RUN_COLUMNS = [
  'seq',
  'run_id',
  'drill',
  'verdict',
  'started_at',
  'finished_at',
  'restore_verify_ms',
  'total_ms',
  'files',
  'bytes',
  'checks_failed',
  'set_path',
  'set_age_ms',
  'cause',
  'record_hash',
] as const;

/** The runs table, one line at a time (header first): streams whatever the number of runs. */
export async function* csvRunLines(
  rows: AsyncIterable<RunRow> | Iterable<RunRow>,
): AsyncGenerator<string> {
  yield csvLine(RUN_COLUMNS);
  for await (const row of rows) {
    yield csvLine([
      row.seq,
      row.runId,
      row.drill,
      row.verdict,
      row.startedAt,
      row.finishedAt,
      row.restoreVerifyMs,
      row.totalMs,
      row.files,
      row.bytes,
      row.checksFailed,
      row.setPath,
      row.setAgeMs,
      row.cause,
      row.recordHash,
    ]);
  }
}

/** Column names of the per-drill summary table. */
export const SUMMARY_COLUMNS = [
  'drill',
  'state',
  'concerns',
  'owner',
  'controls',
  'runs',
  'passes',
  'pass_rate',
  'last_run_at',
  'last_run_verdict',
  'last_pass_at',
  'last_failure_at',
  'last_failure_cause',
  'max_age_ms',
  'overdue',
  'never_passed',
  'rto_target_ms',
  'rto_last_ms',
  'rto_median_ms',
  'rto_max_ms',
  'rto_met',
  'rpo_target_ms',
  'rpo_last_ms',
  'rpo_met',
  'active_waivers',
  'expired_waivers',
] as const;

function summaryCells(drill: DrillSummary): Cell[] {
  return [
    drill.name,
    drill.state,
    drill.concerns.join(' '),
    drill.owner,
    drill.controls.join(' '),
    drill.runs,
    drill.passes,
    drill.passRate === null ? null : Number(drill.passRate.toFixed(4)),
    drill.lastRun?.startedAt,
    drill.lastRun?.verdict,
    drill.lastPass?.finishedAt,
    drill.lastFailure?.startedAt,
    drill.lastFailure?.cause,
    drill.maxAgeMs,
    drill.overdue,
    drill.neverPassed,
    drill.rto.targetMs,
    drill.rto.lastMs,
    drill.rto.medianMs,
    drill.rto.maxMs,
    drill.rto.met,
    drill.rpo.targetMs,
    drill.rpo.lastMs,
    drill.rpo.met,
    drill.waivers.filter((waiver) => waiver.active).length,
    drill.waivers.filter((waiver) => !waiver.active).length,
  ];
}

/** The per-drill summary table (header first), in the summary's order: drills needing attention lead. */
export function csvSummary(summary: EvidenceSummary): string {
  return (
    csvLine(SUMMARY_COLUMNS) + summary.drills.map((drill) => csvLine(summaryCells(drill))).join('')
  );
}
