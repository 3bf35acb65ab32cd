import { formatBytes } from '../model/primitives.js';
import { hostname } from 'node:os';
import { formatDuration } from '../model/duration.js';
import { redactor } from '../model/redact.js';
import type { RunRecord, RunVerdict } from '../evidence/run-record.js';

/**
 * What an alert is about. `failing`, `stale` open a problem, `reminder` repeats an
 * open one, `recovered` closes it; `heartbeat` and `test` prove the path works;
 * `spooled`: a run's result has waited in the local spool too long (the store has not taken it);
 * `unreviewed`: a failed run has had no sign-off for longer than `review.maxUnreviewed`.
 */
export type AlertKind =
  'failing' | 'stale' | 'reminder' | 'recovered' | 'heartbeat' | 'test' | 'spooled' | 'unreviewed';

/** The problems a drill can have; a reminder and a recovery name which one. */
export type ProblemKind = 'failing' | 'stale';

/** How loud: chat formats pick a colour, Alertmanager-style consumers a severity. */
export type AlertSeverity = 'critical' | 'warning' | 'resolved' | 'info';

/** A failed check as an alert shows it: display strings, bounded in size. */
export interface AlertCheck {
  name: string;
  verdict: string;
  detail: string;
  expected: string | null;
  actual: string | null;
  /** The first few findings, each naming its item. */
  findings: { item: string; problem: string; expected: string | null; actual: string | null }[];
  findingsTotal: number;
}

/** One drill's line in a heartbeat. */
export interface HeartbeatDrill {
  name: string;
  owner: string | null;
  state: 'passing' | 'failing' | 'stale' | 'never-run';
  lastVerdict: RunVerdict | null;
  lastRunAt: string | null;
  lastPassAt: string | null;
}

/**
 * One alert, as stored in the alert log and handed to every channel. Channels
 * render it (plain text, Slack blocks, a Teams card, the generic JSON is this
 * document itself). Built once, redacted once, never rebuilt for a retry.
 */
export interface AlertMessage {
  /** Version of this document's shape, for generic webhook consumers. */
  version: 1;
  kind: AlertKind;
  /** For `reminder` and `recovered`: the problem repeated or closed. */
  problem: ProblemKind | null;
  severity: AlertSeverity;
  /** A short status word: FAILED, ERROR, TIMED OUT, STALE, STILL FAILING, RECOVERED, HEARTBEAT, TEST. */
  status: string;
  /** One line: the mail subject, the chat headline. */
  title: string;
  /** A sentence or two for people. */
  summary: string;
  /** When the alert was raised (ISO 8601). */
  at: string;
  /** The host that raised it. */
  host: string;
  drill: { name: string; owner: string | null; description: string | null; tags: string[] } | null;
  /** The run the alert is about (the latest red run, or the pass that recovered it). */
  run: {
    runId: string;
    verdict: RunVerdict;
    cause: string | null;
    startedAt: string;
    finishedAt: string;
    durationMs: number;
    trigger: string;
    set: { path: string; id: string; mtime: string | null; size: number | null } | null;
    restored: { files: number; bytes: number };
  } | null;
  /** The first few checks that failed, with expected against actual. */
  failedChecks: AlertCheck[];
  /** How many checks failed in all (more than `failedChecks` shows when large). */
  failedChecksTotal: number;
  /** The problem started then: the first red run, or the moment the drill went stale. */
  since: string | null;
  /** Red runs in a row (failing), for reminders and recoveries. */
  redRuns: number | null;
  lastPassAt: string | null;
  /** The exact command that prints the full evidence of `run`. */
  evidenceCommand: string | null;
  /** For `unreviewed`: the command that signs `run` off (placeholders in angle brackets). */
  signoffCommand: string | null;
  /** Every drill, for heartbeats. */
  drills: HeartbeatDrill[] | null;
}

/** Failed checks an alert shows, and findings per check. */
export const MAX_ALERT_CHECKS = 5;
export const MAX_ALERT_FINDINGS = 3;
const MAX_VALUE_CHARS = 120;

/** The drill as alerts need it (a subset of its config). */
export interface AlertDrill {
  name: string;
  owner?: string | undefined;
  description?: string | undefined;
  tags: string[];
  maxAge?: number | undefined;
}

const STATUS: Record<Exclude<RunVerdict, 'passed'>, string> = {
  failed: 'FAILED',
  error: 'ERROR',
  timed_out: 'TIMED OUT',
  aborted: 'ABORTED',
};
const VERB: Record<RunVerdict, string> = {
  passed: 'passed',
  failed: 'failed',
  error: 'could not run',
  timed_out: 'timed out',
  aborted: 'was aborted',
};

interface CommonInput {
  drill: AlertDrill;
  /** The config file, for the evidence command. */
  configFile: string;
  now: Date;
}

/** A drill went red (`failing`) or is still red (`reminder`). */
export function buildFailingAlert(
  input: CommonInput & {
    kind: 'failing' | 'reminder';
    /** The newest red run. */
    run: RunRecord;
    /** The first red run of this episode. */
    firstRed: RunRecord;
    redRuns: number;
    lastPass: RunRecord | null;
  },
): AlertMessage {
  const { drill, run, now } = input;
  const verdict = run.verdict === 'passed' ? 'failed' : run.verdict;
  const reminder = input.kind === 'reminder';
  const redFor = now.getTime() - Date.parse(input.firstRed.startedAt);
  const status = reminder ? 'STILL FAILING' : STATUS[verdict];
  const why = firstReason(run);
  const title = reminder
    ? `${status}: ${drill.name} has been red for ${formatAge(redFor)} (${input.redRuns} run${input.redRuns === 1 ? '' : 's'})`
    : `${status}: restore drill ${drill.name} ${VERB[verdict]}${why ? ` — ${why}` : ''}`;
  const summary = [
    `Restore drill ${drill.name}${ownerText(drill)} ${VERB[verdict]} at ${run.finishedAt}${run.set ? ` restoring ${run.set.path}` : ''}.`,
    reminder
      ? `It has been red since ${input.firstRed.startedAt} (${input.redRuns} red run${input.redRuns === 1 ? '' : 's'} in a row).`
      : '',
    input.lastPass ? `Last pass: ${input.lastPass.startedAt}.` : 'It has never passed.',
  ]
    .filter(Boolean)
    .join(' ');
  return finish({
    kind: input.kind,
    problem: reminder ? 'failing' : null,
    severity: 'critical',
    status,
    title,
    summary,
    at: now.toISOString(),
    drill: drillPart(drill),
    run: runPart(run),
    ...checksPart(run),
    since: input.firstRed.startedAt,
    redRuns: input.redRuns,
    lastPassAt: input.lastPass?.startedAt ?? null,
    evidenceCommand: evidenceCommand(run.runId, input.configFile),
    drills: null,
  });
}

/** A drill has no passing run within its `maxAge` (`stale`), or still has none (`reminder`). */
export function buildStaleAlert(
  input: CommonInput & {
    kind: 'stale' | 'reminder';
    maxAgeMs: number;
    lastPass: RunRecord | null;
    lastRun: RunRecord | null;
    /** When the drill went stale: last pass (or first sight) plus maxAge. */
    staleSince: Date;
  },
): AlertMessage {
  const { drill, now, lastPass, lastRun } = input;
  const reminder = input.kind === 'reminder';
  const status = reminder ? 'STILL STALE' : 'STALE';
  const age = lastPass
    ? `no passing run for ${formatAge(now.getTime() - Date.parse(lastPass.startedAt))}`
    : 'no passing run recorded';
  const title = `${status}: restore drill ${drill.name} — ${age} (maxAge ${formatDuration(input.maxAgeMs)})`;
  const lastRunText = lastRun
    ? `The last run was ${lastRun.verdict} at ${lastRun.startedAt}.`
    : 'No run of it has been recorded.';
  const summary = `Restore drill ${drill.name}${ownerText(drill)} has not passed within its maxAge of ${formatDuration(input.maxAgeMs)}${
    lastPass ? ` (last pass ${lastPass.startedAt})` : ''
  }: nothing proves its backups restore. ${lastRunText} Check that the drill is scheduled and that the daemon runs.`;
  return finish({
    kind: input.kind,
    problem: reminder ? 'stale' : null,
    severity: 'warning',
    status,
    title,
    summary,
    at: now.toISOString(),
    drill: drillPart(drill),
    run: lastRun ? runPart(lastRun) : null,
    ...(lastRun && lastRun.verdict !== 'passed'
      ? checksPart(lastRun)
      : { failedChecks: [], failedChecksTotal: 0 }),
    since: input.staleSince.toISOString(),
    redRuns: null,
    lastPassAt: lastPass?.startedAt ?? null,
    evidenceCommand: lastRun ? evidenceCommand(lastRun.runId, input.configFile) : null,
    drills: null,
  });
}

/** A drill passed again after a failure, or ran and passed again after being stale. */
export function buildRecoveredAlert(
  input: CommonInput & {
    problem: ProblemKind;
    run: RunRecord | null;
    since: string | null;
    redRuns: number | null;
  },
): AlertMessage {
  const { drill, run, now } = input;
  const wasText = input.problem === 'failing' ? 'failing' : 'being stale';
  const forText = input.since ? ` for ${formatAge(now.getTime() - Date.parse(input.since))}` : '';
  const title = `RECOVERED: restore drill ${drill.name} ${run ? 'passed again' : 'is no longer stale'}`;
  const summary = run
    ? `Restore drill ${drill.name}${ownerText(drill)} passed at ${run.finishedAt}${run.set ? ` restoring ${run.set.path}` : ''}, after ${wasText}${forText}.`
    : `Restore drill ${drill.name}${ownerText(drill)} is no longer ${input.problem} (its configuration changed).`;
  return finish({
    kind: 'recovered',
    problem: input.problem,
    severity: 'resolved',
    status: 'RECOVERED',
    title,
    summary,
    at: now.toISOString(),
    drill: drillPart(drill),
    run: run ? runPart(run) : null,
    failedChecks: [],
    failedChecksTotal: 0,
    since: input.since,
    redRuns: input.redRuns,
    lastPassAt: run?.startedAt ?? null,
    evidenceCommand: run ? evidenceCommand(run.runId, input.configFile) : null,
    drills: null,
  });
}

/** The periodic summary of every drill, proving the alert path itself works. */
export function buildHeartbeat(input: { drills: HeartbeatDrill[]; now: Date }): AlertMessage {
  const count = (state: HeartbeatDrill['state']) =>
    input.drills.filter((drill) => drill.state === state).length;
  const red = count('failing') + count('stale');
  const parts = [
    `${count('passing')} passing`,
    `${count('failing')} failing`,
    `${count('stale')} stale`,
  ];
  if (count('never-run') > 0) parts.push(`${count('never-run')} never run`);
  const title = `HEARTBEAT: restore-drill — ${input.drills.length} drill${input.drills.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
  const summary =
    red === 0
      ? 'No drill is failing or stale. This message is sent on a schedule to prove that alerts reach you.'
      : `${red} drill${red === 1 ? ' is' : 's are'} red. This message is sent on a schedule to prove that alerts reach you.`;
  return finish({
    kind: 'heartbeat',
    problem: null,
    severity: red === 0 ? 'info' : 'warning',
    status: 'HEARTBEAT',
    title,
    summary,
    at: input.now.toISOString(),
    drill: null,
    run: null,
    failedChecks: [],
    failedChecksTotal: 0,
    since: null,
    redRuns: null,
    lastPassAt: null,
    evidenceCommand: null,
    drills: input.drills,
  });
}

/** A run's result has waited in the spool longer than `spool.alertAfter`: it is not in the evidence store yet. */
export function buildSpooledAlert(
  input: CommonInput & {
    run: RunRecord;
    spoolFile: string;
    spooledAt: string;
    /** Why the store did not take it, as the spool entry says. */
    reason: string;
  },
): AlertMessage {
  const { drill, run, now } = input;
  const age = formatAge(now.getTime() - Date.parse(input.spooledAt));
  const title = `NOT RECORDED: restore drill ${drill.name} — its ${run.verdict} result has waited ${age} in the spool`;
  const summary = `The result of run ${run.runId} of restore drill ${drill.name}${ownerText(drill)} (${run.verdict}, finished ${run.finishedAt}) is in the spool file ${input.spoolFile} on ${hostname()}, not in the evidence store: ${input.reason}. Bring the evidence store back (writable); the daemon or the next restore-drill command on this host appends the result. Do not delete the file.`;
  return finish({
    kind: 'spooled',
    problem: null,
    severity: 'warning',
    status: 'NOT RECORDED',
    title,
    summary,
    at: now.toISOString(),
    drill: drillPart(drill),
    run: runPart(run),
    ...(run.verdict === 'passed' ? { failedChecks: [], failedChecksTotal: 0 } : checksPart(run)),
    since: input.spooledAt,
    redRuns: null,
    lastPassAt: null,
    evidenceCommand: null,
    drills: null,
  });
}

/** A failed run has had no review (sign-off) for longer than `review.maxUnreviewed`. */
export function buildUnreviewedAlert(
  input: CommonInput & { run: RunRecord; maxUnreviewedMs: number },
): AlertMessage {
  const { drill, run, now } = input;
  const age = formatAge(now.getTime() - Date.parse(run.startedAt));
  const title = `UNREVIEWED: failed run ${run.runId} of restore drill ${drill.name} has had no sign-off for ${age} (maxUnreviewed ${formatDuration(input.maxUnreviewedMs)})`;
  const summary = `Run ${run.runId} of restore drill ${drill.name}${ownerText(drill)} failed at ${run.finishedAt}${run.cause ? ` (${run.cause})` : ''} and nobody has reviewed it for ${age}. Review what failed and record the decision with restore-drill signoff (or the web view's sign-off form); this alert is sent once per run.`;
  return finish({
    kind: 'unreviewed',
    problem: null,
    severity: 'warning',
    status: 'UNREVIEWED',
    title,
    summary,
    at: now.toISOString(),
    drill: drillPart(drill),
    run: runPart(run),
    ...checksPart(run),
    since: run.startedAt,
    redRuns: null,
    lastPassAt: null,
    evidenceCommand: evidenceCommand(run.runId, input.configFile),
    signoffCommand: signoffCommand(run.runId, input.configFile),
    drills: null,
  });
}

/** What `restore-drill alerts test` sends. */
export function buildTestMessage(input: { channel: string; now: Date }): AlertMessage {
  return finish({
    kind: 'test',
    problem: null,
    severity: 'info',
    status: 'TEST',
    title: `TEST: restore-drill alert channel '${input.channel}' works`,
    summary: `A test message from restore-drill on ${hostname()} through channel '${input.channel}'. No drill has changed state.`,
    at: input.now.toISOString(),
    drill: null,
    run: null,
    failedChecks: [],
    failedChecksTotal: 0,
    since: null,
    redRuns: null,
    lastPassAt: null,
    evidenceCommand: null,
    drills: null,
  });
}

/** An age for people: hours once it is days long, minutes once it is hours long (`3d`, not `3d2s`). */
export function formatAge(ms: number): string {
  const unit = ms >= 86_400_000 ? 3_600_000 : ms >= 3_600_000 ? 60_000 : 1_000;
  return formatDuration(Math.max(0, Math.round(ms / unit) * unit));
}

/** The command that prints a run's full evidence, quoted for a POSIX shell. */
export function evidenceCommand(runId: string, configFile: string): string {
  return `restore-drill show ${shellQuote(runId)} --config ${shellQuote(configFile)}`;
}

/** The command that signs a run off; the reviewer fills in the angle-bracketed parts. */
export function signoffCommand(runId: string, configFile: string): string {
  return `restore-drill signoff ${shellQuote(runId)} --config ${shellQuote(configFile)} --by <you> --decision <accepted|remediation|risk-accepted> --note '<what was decided>'`;
}

/** Quotes a word for a POSIX shell when it needs quoting. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_/.:=@%+,-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The message as plain text: the body of a mail, the fallback text of a chat
 * message. Says which drill, which set, what failed (expected against found),
 * and the command that shows everything.
 */
export function renderText(message: AlertMessage): string {
  const lines: string[] = [message.title, '', message.summary, ''];
  const { drill, run } = message;
  if (drill) {
    lines.push(`Drill:        ${drill.name}${drill.description ? ` — ${drill.description}` : ''}`);
    if (drill.owner) lines.push(`Owner:        ${drill.owner}`);
    if (drill.tags.length > 0) lines.push(`Tags:         ${drill.tags.join(', ')}`);
  }
  if (run) {
    if (run.set) {
      const facts = [
        run.set.mtime ? `taken ${run.set.mtime}` : null,
        run.set.size !== null ? formatBytes(run.set.size) : null,
      ].filter(Boolean);
      lines.push(
        `Backup set:   ${run.set.path}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`,
      );
    } else lines.push('Backup set:   none found');
    lines.push(
      `Run:          ${run.runId} — ${run.verdict}, started ${run.startedAt}, took ${formatDuration(run.durationMs)}`,
    );
    lines.push(`Restored:     ${run.restored.files} files, ${formatBytes(run.restored.bytes)}`);
    if (run.cause && run.verdict !== 'passed') lines.push(`Cause:        ${run.cause}`);
  }
  if (message.since && message.kind !== 'recovered') lines.push(`Since:        ${message.since}`);
  if (message.lastPassAt) lines.push(`Last pass:    ${message.lastPassAt}`);
  if (message.failedChecks.length > 0) {
    lines.push(
      '',
      `Failed checks (${message.failedChecks.length} of ${message.failedChecksTotal} shown):`,
    );
    for (const check of message.failedChecks) lines.push(...checkLines(check));
  }
  if (message.drills) {
    lines.push('', 'Drills:');
    for (const drill of message.drills) lines.push(`  ${heartbeatLine(drill)}`);
  }
  if (message.evidenceCommand) lines.push('', 'Full evidence:', `  ${message.evidenceCommand}`);
  if (message.signoffCommand) lines.push('', 'Sign it off:', `  ${message.signoffCommand}`);
  lines.push('', `— restore-drill on ${message.host}, ${message.at}`);
  return lines.join('\n').replace(/\n{3,}/g, '\n\n');
}

/** The lines of one failed check: its detail, expected against found, then its first findings. */
export function checkLines(check: AlertCheck): string[] {
  const lines = [`  x ${check.name}: ${check.detail}`];
  if (check.expected !== null || check.actual !== null)
    lines.push(`      expected ${check.expected ?? '—'}, found ${check.actual ?? '—'}`);
  for (const finding of check.findings) {
    const values =
      finding.expected !== null || finding.actual !== null
        ? ` (expected ${finding.expected ?? '—'}, found ${finding.actual ?? '—'})`
        : '';
    lines.push(`      ${finding.problem}: ${finding.item}${values}`);
  }
  const more = check.findingsTotal - check.findings.length;
  if (more > 0) lines.push(`      … and ${more} more`);
  return lines;
}

/** `fileserver-nightly  FAILING  last run failed 2026-…, last pass 2026-…` */
export function heartbeatLine(drill: HeartbeatDrill): string {
  const state = drill.state.toUpperCase().replace('-', ' ');
  const last = drill.lastRunAt ? `last run ${drill.lastVerdict} ${drill.lastRunAt}` : 'no runs';
  const pass = drill.lastPassAt ? `last pass ${drill.lastPassAt}` : 'never passed';
  return `${state.padEnd(9)} ${drill.name}${drill.owner ? ` (${drill.owner})` : ''}: ${last}; ${pass}`;
}

function finish(
  body: Omit<AlertMessage, 'version' | 'host' | 'signoffCommand'> &
    Partial<Pick<AlertMessage, 'signoffCommand'>>,
): AlertMessage {
  // Secrets can hide in a cause or a finding (a command line, a URL): mask them by value.
  return redactor.redactValue({ version: 1, signoffCommand: null, ...body, host: hostname() });
}

function ownerText(drill: AlertDrill): string {
  return drill.owner ? ` (owner ${drill.owner})` : '';
}

function drillPart(drill: AlertDrill): AlertMessage['drill'] {
  return {
    name: drill.name,
    owner: drill.owner ?? null,
    description: drill.description ?? null,
    tags: [...drill.tags],
  };
}

function runPart(run: RunRecord): NonNullable<AlertMessage['run']> {
  return {
    runId: run.runId,
    verdict: run.verdict,
    cause: run.cause,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: run.timings.totalMs,
    trigger: run.trigger,
    set: run.set
      ? { path: run.set.path, id: run.set.id, mtime: run.set.mtime, size: run.set.size }
      : null,
    restored: { files: run.restored.files, bytes: run.restored.bytes },
  };
}

function checksPart(run: RunRecord): Pick<AlertMessage, 'failedChecks' | 'failedChecksTotal'> {
  const failed = run.checks.filter((check) => check.verdict === 'failed');
  return {
    failedChecksTotal: failed.length,
    failedChecks: failed.slice(0, MAX_ALERT_CHECKS).map((check) => ({
      name: check.name,
      verdict: check.verdict,
      detail: check.detail,
      expected: display(check.expected),
      actual: display(check.actual),
      findings: (check.findings ?? []).slice(0, MAX_ALERT_FINDINGS).map((finding) => ({
        item: finding.item,
        problem: finding.problem,
        expected: display(finding.expected),
        actual: display(finding.actual),
      })),
      findingsTotal: check.findingsTotal ?? check.findings?.length ?? 0,
    })),
  };
}

/** The first failed check's detail, or the run's cause: the headline's "why". */
function firstReason(run: RunRecord): string | null {
  const check = run.checks.find((candidate) => candidate.verdict === 'failed');
  const text = check ? `${check.name}: ${check.detail}` : run.cause;
  if (!text) return null;
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

/** A value as a short display string; null when absent. */
function display(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text === undefined) return null;
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 3)}...` : text;
}
