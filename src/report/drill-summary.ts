import { formatDuration } from '../model/duration.js';
import type { RunRecord, RunVerdict } from '../evidence/run-record.js';
import type { ReviewDecision } from '../evidence/database.js';
import { describeAssurance } from './assurance.js';
import { isWaiverActive, waiverEndsAt, type Waiver } from './controls.js';

// The summary model shared by `report` (HTML, CSV, JSON) and the read-only web UI.
// Two stages: per-drill facts (aggregates plus a few notable runs), gathered either
// from RunRecord[] in memory (`factsFromRecords`) or by SQL (`loadDrillFacts` in
// load-summary.ts); then `summarizeEvidence`, pure, turns facts and config into
// what a reviewer reads. Every time is ISO 8601 text, every duration milliseconds,
// so the model serialises to JSON as it is.

/** What the summary needs from a drill's config; a `DrillConfig` fits as it is. */
export interface SummaryDrill {
  name: string;
  description?: string | undefined;
  owner?: string | undefined;
  tags?: readonly string[] | undefined;
  /** Milliseconds; the drill is overdue when it has not passed within this long. */
  maxAge?: number | undefined;
  targets?: { rto?: number | undefined; rpo?: number | undefined } | undefined;
  controls?: readonly string[] | undefined;
  waivers?: readonly Waiver[] | undefined;
  /** The drill's source kind: `evidence-backup` drills prove the evidence store itself restorable. */
  source?: { kind: string } | undefined;
}

/** The source kind whose drills restore backups of the evidence store itself. */
export const EVIDENCE_BACKUP_KIND = 'evidence-backup';

/** When the evidence store itself was last proven restorable. */
export interface EvidenceRestorable {
  /** The configured drills of kind `evidence-backup`; empty: the evidence store is never drilled. */
  drills: string[];
  /** Their newest passing run, whenever it was (not only in the window); null: never proven. */
  lastPass: { runId: string; drill: string; startedAt: string; finishedAt: string } | null;
}

/** Every verdict a run can end with, in display order. */
export const RUN_VERDICTS: readonly RunVerdict[] = [
  'passed',
  'failed',
  'error',
  'timed_out',
  'aborted',
];

/** A run as charts and tables need it: the record's key figures, not the whole record. */
export interface RunPoint {
  runId: string;
  /** Position in the evidence chain; absent when built from records alone. */
  seq?: number;
  drill: string;
  verdict: RunVerdict;
  startedAt: string;
  finishedAt: string;
  /** Restore plus verification: what the RTO is measured on. */
  restoreVerifyMs: number;
  totalMs: number;
  files: number;
  bytes: number;
  checksFailed: number;
  cause: string | null;
  setPath: string | null;
  /** The backup set's age when the run started (start minus the set's mtime): the RPO achieved. */
  setAgeMs: number | null;
}

/** A notable run (last run, last pass, last failure) with what a reviewer asks about it. */
export interface RunDetail extends RunPoint {
  /** Checks that failed, each with its one-line detail. */
  failedChecks: { name: string; detail: string }[];
  host: string;
  version: string;
  /** A confidence-based sample's statement in words; null for runs without one. */
  assurance: string | null;
}

/** Counts of runs by verdict. */
export type VerdictCounts = Record<RunVerdict, number>;

/**
 * What the evidence says about one drill, before config is applied. Window
 * figures cover runs started in [since, until); the notable runs are the newest
 * started before `until`, however old (a pass older than the window still counts
 * for `maxAge`).
 */
export interface DrillFacts {
  drill: string;
  verdicts: VerdictCounts;
  /** The longest restore plus verification of a passing run in the window; null when none passed. */
  restoreVerifyMaxMs: number | null;
  /** The median restore plus verification over the newest `MEDIAN_SAMPLE` passing runs in the window. */
  restoreVerifyMedianMs: number | null;
  lastRun: RunDetail | null;
  lastPass: RunDetail | null;
  lastFailure: RunDetail | null;
  /** The newest runs in the window, oldest first, at most `recentLimit`. */
  recent: RunPoint[];
}

/** The report period: runs started at or after `since` and before `until`. */
export interface SummaryWindow {
  since: Date;
  until: Date;
}

/**
 * The RTO median is taken over at most this many of the newest passes in the
 * window: a bounded read per drill however long the history (and the recent
 * behaviour is what the median is for).
 */
export const MEDIAN_SAMPLE = 1000;

/** How many recent runs per drill the summary carries for charts, unless told. */
export const DEFAULT_RECENT_LIMIT = 60;

/** Why a drill is not green. */
export type Concern = 'never-passed' | 'overdue' | 'last-run-failed' | 'rto-missed' | 'rpo-missed';

/** Most serious first: an audit finding leads with evidence that does not exist. */
export const CONCERN_ORDER: readonly Concern[] = [
  'never-passed',
  'overdue',
  'last-run-failed',
  'rto-missed',
  'rpo-missed',
];

/** green: nothing to report; red: a concern no active waiver covers; waived: every concern covered by an active waiver. */
export type DrillState = 'green' | 'red' | 'waived';

/** A configured waiver, with whether it still applies. */
export interface WaiverStatus {
  drill: string;
  owner: string;
  reason: string;
  /** `YYYY-MM-DD`, the last day it applies (UTC). */
  expires: string;
  /** Null: the whole drill. */
  checks: string[] | null;
  active: boolean;
  /** Days until it lapses (negative once expired), rounded down. */
  daysLeft: number;
  /** It is active and covers at least one of the drill's current concerns. */
  inUse: boolean;
}

/** A recovery objective: the target and what was achieved. */
export interface Objective {
  targetMs: number | null;
  /** RTO: restore plus verification of the last pass. RPO: the set's age at the last run that found a set. */
  lastMs: number | null;
  /** Null when there is no target or nothing was measured. */
  met: boolean | null;
}

/** One drill as a reviewer sees it. */
export interface DrillSummary {
  name: string;
  description: string | null;
  owner: string | null;
  tags: string[];
  controls: string[];
  /** False for a drill that has runs in the window but is no longer in the config. */
  configured: boolean;
  state: DrillState;
  /** Every concern, most serious first (including waived ones). */
  concerns: Concern[];
  /** Runs started in the window, by verdict, and in total. */
  runs: number;
  passes: number;
  verdicts: VerdictCounts;
  /** passes / runs, 0..1; null without runs. */
  passRate: number | null;
  lastRun: RunDetail | null;
  lastPass: RunDetail | null;
  lastFailure: RunDetail | null;
  maxAgeMs: number | null;
  /** Time since the last pass finished, at `generatedAt`. */
  lastPassAgeMs: number | null;
  overdue: boolean;
  neverPassed: boolean;
  /** `maxMs` over every pass in the window; `medianMs` over the newest MEDIAN_SAMPLE of them. */
  rto: Objective & { maxMs: number | null; medianMs: number | null };
  rpo: Objective & { worstRecentMs: number | null };
  waivers: WaiverStatus[];
  /** Recent runs in the window, oldest first: the trend chart and the pass/fail strip. */
  recent: RunPoint[];
  /** The drill's latest selftest, whenever it ran: which kinds of damage its checks catch; absent when none was loaded. */
  selftest?: SelftestStatus | null;
}

/** What a drill's latest selftest found: the kinds of damage its checks caught, and those they missed. */
export interface SelftestStatus {
  id: string;
  startedAt: string;
  verdict: 'passed' | 'failed' | 'error';
  cause: string | null;
  detected: string[];
  undetected: string[];
  /** One per undetected kind: "this drill would not notice … : add …". */
  findings: string[];
}

/** An audit finding: one concern of one drill, in words. */
export interface CoverageFinding {
  drill: string;
  owner: string | null;
  kind: Concern | 'waiver-expired';
  detail: string;
  /** An active waiver covers it; it is still listed. */
  waived: boolean;
}

/** One control and the drills that evidence it. */
export interface ControlCoverage {
  control: string;
  /** red when any drill is red; waived when none is red and one is waived; green otherwise. */
  state: DrillState;
  drills: { drill: string; state: DrillState }[];
}

/** What an auditor reads first. */
export interface Coverage {
  /** Most serious first: drills that never passed or are overdue lead, then failing ones, missed objectives, expired waivers. */
  findings: CoverageFinding[];
  /** Control → drills, sorted by control id. */
  controls: ControlCoverage[];
  /** Configured drills that name no control. */
  drillsWithoutControls: string[];
  waivers: WaiverStatus[];
}

/** The chain head when the summary was made: lets a reader tie the report to the evidence. */
export interface ChainHead {
  seq: number;
  recordHash: string;
}

/** The latest review (sign-off) of a run, as reports show it. */
export interface ReviewStatus {
  by: string;
  reviewedAt: string;
  decision: ReviewDecision;
  note: string;
  ticket: string | null;
  /** Where it was signed: the CLI or the web view. */
  via: 'cli' | 'web';
  /** The review's place in the evidence chain. */
  seq: number;
}

/** A failed run and its review status, as loaded from the evidence. */
export interface FailedRun {
  runId: string;
  seq: number;
  drill: string;
  startedAt: string;
  /** The latest review, null when nobody signed it off. */
  review: ReviewStatus | null;
  /** How many reviews it has (the latest one stands). */
  reviews: number;
}

/** A failed run in the report: reviewed or not, by whom, when, what was decided. */
export interface FailureReview extends FailedRun {
  /** Its drill is waived (every concern covered by an active waiver). */
  waived: boolean;
  /** Unreviewed for longer than `review.maxUnreviewed`. */
  overdue: boolean;
}

/** The whole summary: what `report --format json` prints and the web UI serves. */
export interface EvidenceSummary {
  generatedAt: string;
  window: { since: string; until: string };
  totals: {
    drills: number;
    runs: number;
    passes: number;
    green: number;
    red: number;
    waived: number;
    overdue: number;
    neverPassed: number;
    expiredWaivers: number;
  };
  /** Red first (never passed and overdue leading), then waived, then green; config order within each. */
  drills: DrillSummary[];
  coverage: Coverage;
  chain: ChainHead | null;
  /**
   * Failed runs left without a review past `review.maxUnreviewed`, oldest first (in the
   * window or before it): what needs a sign-off now. Absent when reviews were not loaded
   * (the web view), never an empty list standing for "not looked".
   */
  unreviewedFailures?: FailureReview[];
  /** Every failed run in the window, newest first, with its latest review. */
  reviews?: { maxUnreviewedMs: number; failures: FailureReview[] };
  /** When the evidence store itself was last proven restorable; absent when not loaded (the web view). */
  evidenceRestorable?: EvidenceRestorable;
}

export interface SummarizeOptions extends SummaryWindow {
  /** The moment the summary speaks for: ages, overdue and waiver expiry are measured from it. */
  now: Date;
  /** Only these drills (by name); all configured drills plus any with runs otherwise. */
  only?: readonly string[] | undefined;
  chain?: ChainHead | null | undefined;
  /** Failed runs with their reviews: those in the window, and any unreviewed before it. */
  failedRuns?: readonly FailedRun[] | undefined;
  /** `review.maxUnreviewed`: a failure unreviewed longer is overdue for a sign-off. */
  maxUnreviewedMs?: number | undefined;
  /** Each drill's latest selftest, by drill name; absent: not loaded (the drills carry no `selftest`). */
  selftests?: ReadonlyMap<string, SelftestStatus> | undefined;
  evidenceRestorable?: EvidenceRestorable | undefined;
}

const DAY_MS = 86_400_000;

/** ISO 8601 in UTC with milliseconds, as the database's timestamps come back: one form whichever path built the point. */
export function utcIso(text: string): string {
  const time = Date.parse(text);
  return Number.isNaN(time) ? text : new Date(time).toISOString();
}

/** A RunRecord reduced to its figures (times in UTC). */
export function runPointOf(record: RunRecord, seq?: number): RunPoint {
  const mtime = record.set?.mtime ? Date.parse(record.set.mtime) : Number.NaN;
  const started = Date.parse(record.startedAt);
  return {
    runId: record.runId,
    ...(seq === undefined ? {} : { seq }),
    drill: record.drill,
    verdict: record.verdict,
    startedAt: utcIso(record.startedAt),
    finishedAt: utcIso(record.finishedAt),
    restoreVerifyMs: record.timings.restoreMs + record.timings.verifyMs,
    totalMs: record.timings.totalMs,
    files: record.restored.files,
    bytes: record.restored.bytes,
    checksFailed: record.checks.filter((check) => check.verdict === 'failed').length,
    cause: record.cause,
    setPath: record.set?.path ?? null,
    setAgeMs: Number.isNaN(mtime) || Number.isNaN(started) ? null : started - mtime,
  };
}

/** A RunRecord as a notable run. */
export function runDetailOf(record: RunRecord, seq?: number): RunDetail {
  return {
    ...runPointOf(record, seq),
    failedChecks: record.checks
      .filter((check) => check.verdict === 'failed')
      .map((check) => ({ name: check.name, detail: check.detail })),
    host: record.host,
    version: record.version,
    assurance: describeAssurance(record),
  };
}

/** The largest value, or null for none (a loop: spreading millions of values overflows the stack). */
function maxOf(values: readonly number[]): number | null {
  let max: number | null = null;
  for (const value of values) if (max === null || value > max) max = value;
  return max;
}

/** Zero of every verdict. */
export function emptyVerdicts(): VerdictCounts {
  return { passed: 0, failed: 0, error: 0, timed_out: 0, aborted: 0 };
}

/** The median as PostgreSQL's percentile_cont(0.5) computes it (mean of the middle two). */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * Per-drill facts from records in memory (the same result `loadDrillFacts` gets
 * from SQL). Pass every record that may matter: window figures use those started
 * in the window, the notable runs the newest started before `until`.
 */
export function factsFromRecords(
  records: Iterable<RunRecord>,
  window: SummaryWindow,
  recentLimit = DEFAULT_RECENT_LIMIT,
): DrillFacts[] {
  const since = window.since.getTime();
  const until = window.until.getTime();
  interface Scan {
    verdicts: VerdictCounts;
    passedTimes: number[];
    inWindow: RunRecord[];
    lastRun?: RunRecord;
    lastPass?: RunRecord;
    lastFailure?: RunRecord;
  }
  const byDrill = new Map<string, Scan>();
  // Newest by start time, as the SQL loader orders; on a tie the later record (a higher seq) wins.
  const newer = (candidate: RunRecord, held: RunRecord | undefined) =>
    held === undefined || Date.parse(candidate.startedAt) >= Date.parse(held.startedAt);
  for (const record of records) {
    const started = Date.parse(record.startedAt);
    if (!(started < until)) continue;
    let scan = byDrill.get(record.drill);
    if (!scan) {
      scan = { verdicts: emptyVerdicts(), passedTimes: [], inWindow: [] };
      byDrill.set(record.drill, scan);
    }
    if (started >= since) {
      scan.verdicts[record.verdict]++;
      scan.inWindow.push(record);
      if (record.verdict === 'passed')
        scan.passedTimes.push(record.timings.restoreMs + record.timings.verifyMs);
    }
    if (newer(record, scan.lastRun)) scan.lastRun = record;
    if (record.verdict === 'passed') {
      if (newer(record, scan.lastPass)) scan.lastPass = record;
    } else if (newer(record, scan.lastFailure)) scan.lastFailure = record;
  }
  const detail = (record: RunRecord | undefined) =>
    record === undefined ? null : runDetailOf(record);
  return [...byDrill.entries()].map(([drill, scan]) => {
    const ordered = scan.inWindow.map((record, index) => ({ record, index }));
    ordered.sort(
      (a, b) =>
        Date.parse(a.record.startedAt) - Date.parse(b.record.startedAt) || a.index - b.index,
    );
    return {
      drill,
      verdicts: scan.verdicts,
      restoreVerifyMaxMs: maxOf(scan.passedTimes),
      restoreVerifyMedianMs: median(
        ordered
          .filter(({ record }) => record.verdict === 'passed')
          .slice(-MEDIAN_SAMPLE)
          .map(({ record }) => record.timings.restoreMs + record.timings.verifyMs),
      ),
      lastRun: detail(scan.lastRun),
      lastPass: detail(scan.lastPass),
      lastFailure: detail(scan.lastFailure),
      recent: ordered
        .slice(Math.max(0, ordered.length - recentLimit))
        .map(({ record }) => runPointOf(record)),
    };
  });
}

/** The whole summary from records in memory: `factsFromRecords` then `summarizeEvidence`. */
export function summarizeRecords(
  drills: readonly SummaryDrill[],
  records: Iterable<RunRecord>,
  options: SummarizeOptions & { recentLimit?: number | undefined },
): EvidenceSummary {
  return summarizeEvidence(
    drills,
    factsFromRecords(records, options, options.recentLimit),
    options,
  );
}

/**
 * Turns per-drill facts and the drills' config into the summary a reviewer
 * reads: states, concerns, objectives against targets, waivers, coverage.
 * Pure: the same input always gives the same output.
 */
export function summarizeEvidence(
  drills: readonly SummaryDrill[],
  facts: readonly DrillFacts[],
  options: SummarizeOptions,
): EvidenceSummary {
  const now = options.now;
  const only = options.only === undefined ? undefined : new Set(options.only);
  const factsByDrill = new Map(facts.map((entry) => [entry.drill, entry]));
  const configured = drills.filter((drill) => only === undefined || only.has(drill.name));
  const configuredNames = new Set(drills.map((drill) => drill.name));
  const unconfigured = facts
    .filter(
      (entry) => !configuredNames.has(entry.drill) && (only === undefined || only.has(entry.drill)),
    )
    .filter((entry) => RUN_VERDICTS.some((verdict) => entry.verdicts[verdict] > 0))
    .map((entry) => entry.drill)
    .sort();

  const summaries: DrillSummary[] = [
    ...configured.map((drill) => summarizeDrill(drill, factsByDrill.get(drill.name), now, true)),
    ...unconfigured.map((name) => summarizeDrill({ name }, factsByDrill.get(name), now, false)),
  ];
  if (options.selftests !== undefined)
    for (const summary of summaries) summary.selftest = options.selftests.get(summary.name) ?? null;
  const order = new Map(summaries.map((summary, index) => [summary.name, index]));
  summaries.sort(
    (a, b) => rankOf(a) - rankOf(b) || (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0),
  );

  const waivers = summaries.flatMap((summary) => summary.waivers);
  const coverage: Coverage = {
    findings: findingsOf(summaries, now),
    controls: controlMatrix(summaries),
    drillsWithoutControls: summaries
      .filter((summary) => summary.configured && summary.controls.length === 0)
      .map((summary) => summary.name),
    waivers,
  };
  const count = (test: (summary: DrillSummary) => boolean) => summaries.filter(test).length;
  return {
    generatedAt: now.toISOString(),
    window: { since: options.since.toISOString(), until: options.until.toISOString() },
    totals: {
      drills: summaries.length,
      runs: summaries.reduce((sum, summary) => sum + summary.runs, 0),
      passes: summaries.reduce((sum, summary) => sum + summary.passes, 0),
      green: count((summary) => summary.state === 'green'),
      red: count((summary) => summary.state === 'red'),
      waived: count((summary) => summary.state === 'waived'),
      overdue: count((summary) => summary.overdue),
      neverPassed: count((summary) => summary.neverPassed),
      expiredWaivers: waivers.filter((waiver) => !waiver.active).length,
    },
    drills: summaries,
    coverage,
    chain: options.chain ?? null,
    ...reviewsOf(summaries, options),
    ...(options.evidenceRestorable ? { evidenceRestorable: options.evidenceRestorable } : {}),
  };
}

/** Each failed run's review status; the unreviewed ones past `maxUnreviewedMs`, oldest first. */
function reviewsOf(
  summaries: readonly DrillSummary[],
  options: SummarizeOptions,
): Pick<EvidenceSummary, 'unreviewedFailures' | 'reviews'> {
  const max = options.maxUnreviewedMs;
  if (max === undefined) return {};
  const waived = new Set(summaries.filter((s) => s.state === 'waived').map((s) => s.name));
  const shown = new Set(summaries.map((s) => s.name));
  const failures: FailureReview[] = (options.failedRuns ?? [])
    .filter((run) => shown.has(run.drill))
    .map((run) => ({
      ...run,
      waived: waived.has(run.drill),
      overdue: run.review === null && options.now.getTime() - Date.parse(run.startedAt) > max,
    }));
  const since = options.since.getTime();
  const until = options.until.getTime();
  const inWindow = (run: FailureReview) => {
    const at = Date.parse(run.startedAt);
    return at >= since && at < until;
  };
  return {
    unreviewedFailures: failures
      .filter((run) => run.overdue)
      .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt) || a.seq - b.seq),
    reviews: {
      maxUnreviewedMs: max,
      failures: failures
        .filter(inWindow)
        .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || b.seq - a.seq),
    },
  };
}

function summarizeDrill(
  drill: SummaryDrill,
  facts: DrillFacts | undefined,
  now: Date,
  configured: boolean,
): DrillSummary {
  const verdicts = facts ? { ...facts.verdicts } : emptyVerdicts();
  const runs = RUN_VERDICTS.reduce((sum, verdict) => sum + verdicts[verdict], 0);
  const lastRun = facts?.lastRun ?? null;
  const lastPass = facts?.lastPass ?? null;
  const lastFailure = facts?.lastFailure ?? null;
  const maxAgeMs = drill.maxAge ?? null;
  const lastPassAgeMs = lastPass ? now.getTime() - Date.parse(lastPass.finishedAt) : null;
  const neverPassed = lastPass === null;
  const overdue = maxAgeMs !== null && (lastPassAgeMs === null || lastPassAgeMs > maxAgeMs);

  const rtoTarget = drill.targets?.rto ?? null;
  const rtoLast = lastPass?.restoreVerifyMs ?? null;
  const rpoTarget = drill.targets?.rpo ?? null;
  const rpoLast = lastRun?.setAgeMs ?? null;
  const recent = facts?.recent ?? [];
  const ages = recent.map((point) => point.setAgeMs).filter((age): age is number => age !== null);
  const rto = {
    targetMs: rtoTarget,
    lastMs: rtoLast,
    met: rtoTarget === null || rtoLast === null ? null : rtoLast <= rtoTarget,
    maxMs: facts?.restoreVerifyMaxMs ?? null,
    medianMs: facts?.restoreVerifyMedianMs ?? null,
  };
  const rpo = {
    targetMs: rpoTarget,
    lastMs: rpoLast,
    met: rpoTarget === null || rpoLast === null ? null : rpoLast <= rpoTarget,
    worstRecentMs: maxOf(ages),
  };

  const concerns: Concern[] = [];
  if (neverPassed) concerns.push('never-passed');
  else if (overdue) concerns.push('overdue');
  if (lastRun && lastRun.verdict !== 'passed') concerns.push('last-run-failed');
  if (rto.met === false) concerns.push('rto-missed');
  if (rpo.met === false) concerns.push('rpo-missed');

  const waivers = (drill.waivers ?? []).map((waiver) => waiverStatus(drill.name, waiver, now));
  const active = waivers.filter((waiver) => waiver.active);
  const covering = (concern: Concern) =>
    active.filter((waiver) => waiverCovers(waiver, concern, lastRun));
  for (const waiver of active)
    waiver.inUse = concerns.some((concern) => waiverCovers(waiver, concern, lastRun));
  const state: DrillState =
    concerns.length === 0
      ? 'green'
      : concerns.every((concern) => covering(concern).length > 0)
        ? 'waived'
        : 'red';

  return {
    name: drill.name,
    description: drill.description ?? null,
    owner: drill.owner ?? null,
    tags: [...(drill.tags ?? [])],
    controls: [...new Set(drill.controls ?? [])],
    configured,
    state,
    concerns,
    runs,
    passes: verdicts.passed,
    verdicts,
    passRate: runs === 0 ? null : verdicts.passed / runs,
    lastRun,
    lastPass,
    lastFailure,
    maxAgeMs,
    lastPassAgeMs,
    overdue,
    neverPassed,
    rto,
    rpo,
    waivers,
    recent,
  };
}

function waiverStatus(drill: string, waiver: Waiver, now: Date): WaiverStatus {
  const endsAt = waiverEndsAt(waiver).getTime();
  return {
    drill,
    owner: waiver.owner,
    reason: waiver.reason,
    expires: waiver.expires,
    checks: waiver.checks ? [...waiver.checks] : null,
    active: isWaiverActive(waiver, now),
    daysLeft: Math.floor((endsAt - now.getTime()) / DAY_MS),
    inUse: false,
  };
}

/**
 * A whole-drill waiver covers every concern. One naming checks covers a failing
 * last run whose failed checks are all named (and, so, the drill being overdue or
 * never passing because of them), and a missed RTO or RPO when it names `rto` or `rpo`.
 */
function waiverCovers(waiver: WaiverStatus, concern: Concern, lastRun: RunDetail | null): boolean {
  if (waiver.checks === null) return true;
  const named = new Set(waiver.checks);
  if (concern === 'rto-missed') return named.has('rto');
  if (concern === 'rpo-missed') return named.has('rpo');
  if (!lastRun || lastRun.verdict !== 'failed' || lastRun.failedChecks.length === 0) return false;
  return lastRun.failedChecks.every((check) => named.has(check.name));
}

function rankOf(summary: DrillSummary): number {
  const stateRank = summary.state === 'red' ? 0 : summary.state === 'waived' ? 1 : 2;
  const first = summary.concerns[0];
  const concernRank = first === undefined ? CONCERN_ORDER.length : CONCERN_ORDER.indexOf(first);
  return (summary.configured ? 0 : 1000) + stateRank * 100 + concernRank;
}

function findingsOf(summaries: readonly DrillSummary[], now: Date): CoverageFinding[] {
  const findings: (CoverageFinding & { rank: number; index: number })[] = [];
  summaries.forEach((summary, index) => {
    for (const concern of summary.concerns) {
      const waived = summary.waivers.some(
        (waiver) => waiver.active && waiverCovers(waiver, concern, summary.lastRun),
      );
      findings.push({
        drill: summary.name,
        owner: summary.owner,
        kind: concern,
        detail: describeConcern(summary, concern, now),
        waived,
        rank: CONCERN_ORDER.indexOf(concern),
        index,
      });
    }
    for (const waiver of summary.waivers) {
      if (waiver.active) continue;
      findings.push({
        drill: summary.name,
        owner: summary.owner,
        kind: 'waiver-expired',
        detail: `waiver by ${waiver.owner} expired ${waiver.expires} (${waiver.reason})`,
        waived: false,
        rank: CONCERN_ORDER.length,
        index,
      });
    }
  });
  findings.sort(
    (a, b) => a.rank - b.rank || Number(a.waived) - Number(b.waived) || a.index - b.index,
  );
  return findings.map(({ rank: _rank, index: _index, ...finding }) => finding);
}

/** One line per concern, as an auditor would write it. */
function describeConcern(summary: DrillSummary, concern: Concern, now: Date): string {
  const maxAge = summary.maxAgeMs === null ? '' : `; maxAge ${formatDuration(summary.maxAgeMs)}`;
  switch (concern) {
    case 'never-passed': {
      const last = summary.lastRun;
      if (!last) return `no run recorded${maxAge}`;
      return `never passed; last run ${day(last.startedAt)} ${last.verdict}${last.cause ? `: ${last.cause}` : ''}${maxAge}`;
    }
    case 'overdue': {
      const pass = summary.lastPass as RunDetail;
      return `no pass since ${day(pass.finishedAt)} (${formatDuration(now.getTime() - Date.parse(pass.finishedAt))} ago)${maxAge}`;
    }
    case 'last-run-failed': {
      const last = summary.lastRun as RunDetail;
      return `last run ${day(last.startedAt)} ${last.verdict}${last.cause ? `: ${last.cause}` : ''}`;
    }
    case 'rto-missed':
      return `RTO ${formatDuration(summary.rto.lastMs ?? 0)} at the last pass, over the target ${formatDuration(summary.rto.targetMs ?? 0)}`;
    case 'rpo-missed':
      return `backup set was ${formatDuration(summary.rpo.lastMs ?? 0)} old at the last run, over the RPO target ${formatDuration(summary.rpo.targetMs ?? 0)}`;
  }
}

/** The UTC day of an ISO time, whatever offset it was written with. */
function day(iso: string): string {
  const time = Date.parse(iso);
  return Number.isNaN(time) ? iso.slice(0, 10) : new Date(time).toISOString().slice(0, 10);
}

function controlMatrix(summaries: readonly DrillSummary[]): ControlCoverage[] {
  const byControl = new Map<string, { drill: string; state: DrillState }[]>();
  for (const summary of summaries) {
    for (const control of summary.controls) {
      const list = byControl.get(control) ?? [];
      list.push({ drill: summary.name, state: summary.state });
      byControl.set(control, list);
    }
  }
  return [...byControl.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([control, drills]) => ({
      control,
      state: drills.some((entry) => entry.state === 'red')
        ? 'red'
        : drills.some((entry) => entry.state === 'waived')
          ? 'waived'
          : 'green',
      drills,
    }));
}
