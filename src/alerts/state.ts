import type { RunRecord, RunVerdict } from '../evidence/run-record.js';
import type { ProblemKind } from './message.js';

/**
 * Verdicts that turn a drill red. `aborted` is not among them: it means the
 * process running the drill died (a crash, a reboot), which proves nothing about
 * the backup either way. An aborted run neither starts nor ends a failure; a
 * drill that keeps being aborted never passes, and goes stale.
 */
export const RED_VERDICTS: readonly RunVerdict[] = ['failed', 'error', 'timed_out'];

export function isRed(verdict: RunVerdict): boolean {
  return RED_VERDICTS.includes(verdict);
}

/** What the alert state machine needs to know of a drill's runs. */
export interface DrillHistory {
  /** The newest run, whatever its verdict. */
  latest: RunRecord | null;
  /** The newest run that passed or went red (aborted runs skipped). */
  latestDecisive: RunRecord | null;
  /** The newest passing run. */
  lastPass: RunRecord | null;
  /** The first red run after `lastPass` (after the start of time when none): where the current red streak began. */
  firstRedAfterPass: RunRecord | null;
  /** Red runs after `lastPass`. */
  redAfterPass: number;
  /** When the drill's first run started. */
  firstRunAt: Date | null;
}

const byStart = (a: RunRecord, b: RunRecord) => Date.parse(a.startedAt) - Date.parse(b.startedAt);

/** The history of one drill from its runs (in any order): the pure counterpart of `loadDrillHistory`. */
export function summarizeRuns(runs: readonly RunRecord[]): DrillHistory {
  const sorted = [...runs].sort(byStart);
  const newest = (predicate: (run: RunRecord) => boolean) =>
    [...sorted].reverse().find(predicate) ?? null;
  const lastPass = newest((run) => run.verdict === 'passed');
  const after = lastPass ? sorted.filter((run) => byStart(run, lastPass) > 0) : sorted;
  const red = after.filter((run) => isRed(run.verdict));
  return {
    latest: sorted.at(-1) ?? null,
    latestDecisive: newest((run) => run.verdict === 'passed' || isRed(run.verdict)),
    lastPass,
    firstRedAfterPass: red[0] ?? null,
    redAfterPass: red.length,
    firstRunAt: sorted[0] ? new Date(sorted[0].startedAt) : null,
  };
}

/** A drill's state as its runs show it now. Failing outranks stale: a red drill's reminders say how long it has been red. */
export type DrillState =
  | { kind: 'ok' }
  | {
      kind: 'failing';
      /** Identifies this red streak: the run id of its first red run. */
      episode: string;
      firstRed: RunRecord;
      latestRed: RunRecord;
      redRuns: number;
    }
  | {
      kind: 'stale';
      /** Identifies this stale spell: the run id of the last pass, or `never`. */
      episode: string;
      /** When the drill went stale: its last pass (or first run, or first sight) plus maxAge. */
      since: Date;
      maxAgeMs: number;
    };

/**
 * The drill's state now. Stale means: `maxAge` is set and no run passed within it,
 * measured from the last pass; a drill that never passed is measured from its
 * first run, and a drill with no run at all from `watchingSince` (the daemon's
 * start) when given. A drill nobody has watched yet is not called stale.
 */
export function drillState(
  history: DrillHistory,
  drill: { maxAge?: number | undefined },
  now: Date,
  watchingSince?: Date | null,
): DrillState {
  const decisive = history.latestDecisive;
  if (decisive && isRed(decisive.verdict)) {
    const firstRed = history.firstRedAfterPass ?? decisive;
    return {
      kind: 'failing',
      episode: firstRed.runId,
      firstRed,
      latestRed: decisive,
      redRuns: Math.max(1, history.redAfterPass),
    };
  }
  if (drill.maxAge !== undefined) {
    const reference = history.lastPass
      ? new Date(history.lastPass.startedAt)
      : (history.firstRunAt ?? watchingSince ?? null);
    if (reference && now.getTime() - reference.getTime() > drill.maxAge) {
      return {
        kind: 'stale',
        episode: history.lastPass?.runId ?? 'never',
        since: new Date(reference.getTime() + drill.maxAge),
        maxAgeMs: drill.maxAge,
      };
    }
  }
  return { kind: 'ok' };
}

/** The open problem of a drill, as the alert log records it. */
export interface OpenProblem {
  /** The dedupe key of the alert that opened it, e.g. `failing:nightly:<run id>`. */
  key: string;
  kind: ProblemKind;
  openedAt: Date;
  /** The opening alert or the latest reminder. */
  lastNotifiedAt: Date;
  reminders: number;
}

/** An alert the state machine asks for; its `key` makes it happen once, whoever asks. */
export type AlertDecision =
  | {
      kind: 'failing';
      key: string;
      problemKey: string;
      state: Extract<DrillState, { kind: 'failing' }>;
    }
  | {
      kind: 'stale';
      key: string;
      problemKey: string;
      state: Extract<DrillState, { kind: 'stale' }>;
    }
  | {
      kind: 'reminder';
      key: string;
      problemKey: string;
      problem: ProblemKind;
      number: number;
      state: Exclude<DrillState, { kind: 'ok' }>;
      openedAt: Date;
    }
  | { kind: 'recovered'; key: string; problemKey: string; problem: ProblemKind; openedAt: Date };

/** The key of the problem a state is: `failing:<drill>:<first red run>` or `stale:<drill>:<last pass>`. */
export function problemKey(drill: string, state: Exclude<DrillState, { kind: 'ok' }>): string {
  return `${state.kind}:${drill}:${state.episode}`;
}

/**
 * One alert per change of state, not per run: compares the state now with the
 * problem the log has open, and asks for what changed: a problem opened
 * (`failing`, `stale`), closed (`recovered`), or a `reminder` when the same
 * problem has gone `remindEvery` without a word. A stale drill that then runs and
 * fails turns into a failing one without a recovery in between. Pure: the same
 * inputs give the same decisions, with the same keys.
 */
export function decideAlerts(input: {
  drill: string;
  state: DrillState;
  open: OpenProblem | null;
  now: Date;
  /** null: no reminders. */
  remindEveryMs: number | null;
}): AlertDecision[] {
  const { drill, state, open, now } = input;
  const current = state.kind === 'ok' ? null : problemKey(drill, state);
  const decisions: AlertDecision[] = [];
  if (open && open.key !== current) {
    const superseded = open.kind === 'stale' && state.kind === 'failing';
    if (!superseded) {
      decisions.push({
        kind: 'recovered',
        key: `recovered:${open.key}`,
        problemKey: open.key,
        problem: open.kind,
        openedAt: open.openedAt,
      });
    }
  }
  if (state.kind === 'ok' || current === null) return decisions;
  if (!open || open.key !== current) {
    decisions.push(
      state.kind === 'failing'
        ? { kind: 'failing', key: current, problemKey: current, state }
        : { kind: 'stale', key: current, problemKey: current, state },
    );
  } else if (
    input.remindEveryMs !== null &&
    now.getTime() - open.lastNotifiedAt.getTime() >= input.remindEveryMs
  ) {
    const number = open.reminders + 1;
    decisions.push({
      kind: 'reminder',
      key: `reminder:${current}:${number}`,
      problemKey: current,
      problem: state.kind,
      number,
      state,
      openedAt: open.openedAt,
    });
  }
  return decisions;
}
