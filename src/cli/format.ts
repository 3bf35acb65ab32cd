import { formatBytes } from '../model/primitives.js';
import { formatDuration } from '../model/duration.js';
import type { RunRecord } from '../evidence/run-record.js';
import { plural } from '../model/describe.js';
import { printable } from '../model/file-name.js';

const MARK: Record<RunRecord['verdict'], string> = {
  passed: 'PASS',
  failed: 'FAIL',
  error: 'ERROR',
  timed_out: 'TIMEOUT',
  aborted: 'ABORTED',
};

/** Sizes for people; `?` when unknown. */
function formatSize(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? '?' : formatBytes(bytes);
}

/** The shape `run --json` and `history --json` print for a run. */
export function runToJson(record: RunRecord, options: { times?: boolean } = {}) {
  return {
    runId: record.runId,
    drill: record.drill,
    verdict: record.verdict,
    cause: record.cause,
    set: record.set
      ? {
          path: record.set.path,
          size: record.set.size,
          mtime: record.set.mtime,
          id: record.set.id,
          hash: record.set.hash,
        }
      : null,
    sample: record.sample
      ? {
          seed: record.sample.seed,
          totalItems: record.sample.totalItems,
          selectedItems: record.sample.selectedItems,
        }
      : null,
    restored: record.restored,
    timings: record.timings,
    checks: record.checks.map((check) => ({
      name: check.name,
      verdict: check.verdict,
      expected: check.expected,
      actual: check.actual,
      detail: check.detail,
      ...(check.findings ? { findings: check.findings } : {}),
    })),
    ...(options.times
      ? {
          startedAt: record.startedAt,
          finishedAt: record.finishedAt,
          trigger: record.trigger,
          host: record.host,
          version: record.version,
        }
      : {}),
  };
}

/** How many findings of a check the short summary shows; `show --all` shows every recorded one. */
const SUMMARY_FINDINGS = 5;

/**
 * A short human summary of one run: the verdict line, then each check that did not pass
 * with its first findings (`all`: every finding the evidence holds).
 */
export function formatRunSummary(record: RunRecord, options: { all?: boolean } = {}): string {
  const lines: string[] = [];
  const setText = record.set ? record.set.path : 'no set';
  const { tables, files, links, bytes } = record.restored;
  const fileCounts = `${plural(files, 'file')}${links ? `, ${plural(links, 'link')}` : ''}, ${formatSize(bytes)}`;
  // A database restore brings tables, not files: "0 files, 0 B" would read as nothing restored.
  const restored =
    tables === undefined
      ? fileCounts
      : `${plural(tables, 'table')}${files > 0 || links ? `, ${fileCounts}` : ''}`;
  lines.push(
    `${MARK[record.verdict].padEnd(7)} ${record.drill}  ${setText}  (${restored} in ${formatDuration(record.timings.totalMs)}, run ${record.runId.slice(0, 8)})`,
  );
  // A failed run's cause is its first failed check, listed below; any other verdict's cause is not.
  if (
    record.verdict !== 'passed' &&
    record.cause &&
    (record.verdict !== 'failed' || !record.checks.some((check) => check.verdict === 'failed'))
  ) {
    lines.push(`        cause: ${record.cause}`);
  }
  for (const check of record.checks) {
    if (check.verdict === 'passed') continue;
    lines.push(
      `        ${check.verdict === 'failed' ? 'x' : '!'} ${check.name}: ${printable(check.detail)}`,
    );
    const recorded = check.findings ?? [];
    const shown = options.all ? recorded : recorded.slice(0, SUMMARY_FINDINGS);
    for (const finding of shown) {
      lines.push(
        `            ${finding.problem}: ${finding.item}${describeExpectation(finding.expected, finding.actual)}`,
      );
    }
    const total = check.findingsTotal ?? recorded.length;
    if (total > recorded.length && options.all)
      lines.push(
        `            … and ${total - recorded.length} more, not kept: the evidence keeps the first ${recorded.length} of a check`,
      );
    else if (total > shown.length)
      lines.push(
        `            … and ${total - shown.length} more (restore-drill show ${record.runId.slice(0, 8)} --all)`,
      );
  }
  return lines.join('\n');
}

function describeExpectation(expected: unknown, actual: unknown): string {
  if (expected === undefined && actual === undefined) return '';
  // A finding that only says what was found (a file that does not parse) has no expectation to print.
  if (expected === undefined) return ` (${short(actual, 120)})`;
  return ` (expected ${short(expected)}, found ${short(actual)})`;
}

function short(value: unknown, max = 60): string {
  if (value === undefined) return 'nothing';
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>)
      .map(([key, inner]) => `${key} ${short(inner)}`)
      .join(', ');
  }
  // One line per finding: a command's output tail keeps its newlines as \n.
  const text = printable(typeof value === 'string' ? value.trim() : JSON.stringify(value));
  return /^[0-9a-f]{40,}$/.test(text)
    ? `${text.slice(0, 12)}…`
    : text.length > max
      ? `${text.slice(0, max - 3)}...`
      : text;
}

/** One line per run for `history`. */
export function formatHistoryLine(record: RunRecord): string {
  const when = record.startedAt.replace('T', ' ').slice(0, 19);
  const cause = record.verdict === 'passed' ? '' : `  ${record.cause ?? ''}`;
  return `${when}  ${record.runId.slice(0, 8)}  ${MARK[record.verdict].padEnd(7)} ${record.drill.padEnd(24)} ${formatDuration(record.timings.totalMs).padStart(7)}  ${String(record.restored.files).padStart(6)} files ${formatSize(record.restored.bytes).padStart(9)}${cause}`;
}
