import { describe, expect, it } from 'vitest';
import type { RunRecord, RunVerdict } from '../../src/evidence/run-record.js';
import {
  decideAlerts,
  drillState,
  summarizeRuns,
  type AlertDecision,
  type OpenProblem,
} from '../../src/alerts/state.js';
import { DAY, HOUR, makeRun } from '../helpers/alert-fixtures.js';

const T0 = new Date('2026-11-01T03:00:00Z');
const at = (hours: number) => new Date(T0.getTime() + hours * HOUR);

/** Runs of `drill` one hour apart, from T0, with these verdicts. */
function runs(...verdicts: RunVerdict[]): RunRecord[] {
  return verdicts.map((verdict, index) =>
    makeRun({ drill: 'nightly', verdict, startedAt: at(index) }),
  );
}

/**
 * Replays the state machine the way the service does: after each step, decide
 * with the log so far, and let every decision land in the log (as its insert would).
 */
class Simulation {
  readonly log: { decision: AlertDecision; at: Date }[] = [];
  history: RunRecord[] = [];
  constructor(
    readonly drill: { maxAge?: number } = {},
    readonly remindEveryMs: number | null = 24 * HOUR,
  ) {}

  open(): OpenProblem | null {
    const states = this.log.filter((entry) => entry.decision.kind !== 'reminder');
    const last = states.at(-1);
    if (!last || last.decision.kind === 'recovered') return null;
    const key = last.decision.problemKey;
    const reminders = this.log.filter(
      (entry) => entry.decision.kind === 'reminder' && entry.decision.problemKey === key,
    );
    return {
      key,
      kind: last.decision.kind === 'stale' ? 'stale' : 'failing',
      openedAt: last.at,
      lastNotifiedAt: reminders.at(-1)?.at ?? last.at,
      reminders: reminders.length,
    };
  }

  evaluate(now: Date): AlertDecision[] {
    const state = drillState(summarizeRuns(this.history), this.drill, now);
    const decisions = decideAlerts({
      drill: 'nightly',
      state,
      open: this.open(),
      now,
      remindEveryMs: this.remindEveryMs,
    });
    for (const decision of decisions) {
      if (!this.log.some((entry) => entry.decision.key === decision.key))
        this.log.push({ decision, at: now });
    }
    return decisions;
  }

  run(verdict: RunVerdict, startedAt: Date): AlertDecision[] {
    this.history.push(makeRun({ drill: 'nightly', verdict, startedAt }));
    return this.evaluate(new Date(startedAt.getTime() + 60_000));
  }
}

const kinds = (decisions: AlertDecision[]) => decisions.map((decision) => decision.kind);

describe('drill history', () => {
  it('finds the last pass, where the red streak began and how long it is', () => {
    const history = summarizeRuns(runs('passed', 'failed', 'aborted', 'error', 'timed_out'));
    expect(history.lastPass?.startedAt).toBe(at(0).toISOString());
    expect(history.firstRedAfterPass?.startedAt).toBe(at(1).toISOString());
    expect(history.redAfterPass).toBe(3);
    expect(history.latest?.verdict).toBe('timed_out');
    expect(history.firstRunAt).toEqual(at(0));
  });

  it('sorts runs by start time whatever order they come in', () => {
    const list = runs('failed', 'passed');
    const history = summarizeRuns([...list].reverse());
    expect(history.latestDecisive?.verdict).toBe('passed');
    expect(history.firstRedAfterPass).toBeNull();
  });
});

describe('drill state', () => {
  it('is failing from the first red run after the last pass', () => {
    const list = runs('passed', 'failed', 'error');
    const state = drillState(summarizeRuns(list), {}, at(3));
    expect(state).toMatchObject({ kind: 'failing', episode: list[1]!.runId, redRuns: 2 });
  });

  it('ignores an aborted run: it neither starts nor ends a failure', () => {
    expect(drillState(summarizeRuns(runs('passed', 'aborted')), {}, at(2)).kind).toBe('ok');
    expect(drillState(summarizeRuns(runs('failed', 'aborted')), {}, at(2)).kind).toBe('failing');
  });

  it('is stale when no run passed within maxAge, counted from the last pass', () => {
    const list = runs('passed');
    expect(
      drillState(summarizeRuns(list), { maxAge: 8 * DAY }, new Date(T0.getTime() + 8 * DAY - 1))
        .kind,
    ).toBe('ok');
    const state = drillState(
      summarizeRuns(list),
      { maxAge: 8 * DAY },
      new Date(T0.getTime() + 8 * DAY + 1),
    );
    expect(state).toMatchObject({
      kind: 'stale',
      episode: list[0]!.runId,
      since: new Date(T0.getTime() + 8 * DAY),
    });
  });

  it('counts a drill that never passed from its first run, and one with no runs only from watchingSince', () => {
    expect(drillState(summarizeRuns(runs('aborted')), { maxAge: DAY }, at(25))).toMatchObject({
      kind: 'stale',
      episode: 'never',
    });
    expect(drillState(summarizeRuns([]), { maxAge: DAY }, at(100)).kind).toBe('ok');
    expect(drillState(summarizeRuns([]), { maxAge: DAY }, at(25), T0)).toMatchObject({
      kind: 'stale',
      episode: 'never',
    });
  });

  it('reports a red drill as failing even when it is also stale', () => {
    expect(drillState(summarizeRuns(runs('passed', 'failed')), { maxAge: HOUR }, at(30)).kind).toBe(
      'failing',
    );
  });
});

describe('alert decisions', () => {
  it('sends one alert when a drill fails and none when it fails again', () => {
    const sim = new Simulation();
    expect(kinds(sim.run('passed', at(0)))).toEqual([]);
    expect(kinds(sim.run('failed', at(1)))).toEqual(['failing']);
    expect(kinds(sim.run('failed', at(2)))).toEqual([]);
    expect(kinds(sim.run('error', at(3)))).toEqual([]);
    expect(sim.log).toHaveLength(1);
  });

  it('reminds once per remindEvery while the drill stays red', () => {
    const sim = new Simulation({}, 24 * HOUR);
    sim.run('failed', at(0));
    expect(kinds(sim.evaluate(at(23)))).toEqual([]);
    const first = sim.evaluate(at(24.1));
    expect(first).toMatchObject([{ kind: 'reminder', number: 1, problem: 'failing' }]);
    expect(kinds(sim.evaluate(at(30)))).toEqual([]);
    expect(kinds(sim.run('failed', at(40)))).toEqual([]);
    expect(sim.evaluate(at(48.2))).toMatchObject([{ kind: 'reminder', number: 2 }]);
  });

  it('sends no reminders with remindEvery never', () => {
    const sim = new Simulation({}, null);
    sim.run('failed', at(0));
    expect(kinds(sim.evaluate(at(24 * 30)))).toEqual([]);
  });

  it('sends a recovery on the first pass after a failure, and nothing on the next pass', () => {
    const sim = new Simulation();
    sim.run('failed', at(0));
    const recovered = sim.run('passed', at(1));
    expect(recovered).toMatchObject([
      { kind: 'recovered', problem: 'failing', problemKey: sim.log[0]!.decision.key },
    ]);
    expect(kinds(sim.run('passed', at(2)))).toEqual([]);
  });

  it('treats a new failure after a recovery as a new problem with its own key', () => {
    const sim = new Simulation();
    const first = sim.run('failed', at(0));
    sim.run('passed', at(1));
    const second = sim.run('failed', at(2));
    expect(kinds(second)).toEqual(['failing']);
    expect(second[0]!.key).not.toBe(first[0]!.key);
  });

  it('closes the old problem and opens a new one when a pass in between was never evaluated', () => {
    const sim = new Simulation();
    sim.run('failed', at(0));
    sim.history.push(makeRun({ drill: 'nightly', verdict: 'passed', startedAt: at(1) }));
    expect(kinds(sim.run('failed', at(2)))).toEqual(['recovered', 'failing']);
  });

  it('alerts once when a drill goes stale, reminds, and recovers on its next pass', () => {
    const sim = new Simulation({ maxAge: 8 * DAY }, 2 * DAY);
    sim.run('passed', at(0));
    expect(kinds(sim.evaluate(new Date(T0.getTime() + 7 * DAY)))).toEqual([]);
    expect(sim.evaluate(new Date(T0.getTime() + 8 * DAY + HOUR))).toMatchObject([
      { kind: 'stale' },
    ]);
    expect(kinds(sim.evaluate(new Date(T0.getTime() + 9 * DAY)))).toEqual([]);
    expect(sim.evaluate(new Date(T0.getTime() + 10 * DAY + 2 * HOUR))).toMatchObject([
      { kind: 'reminder', problem: 'stale' },
    ]);
    expect(sim.run('passed', new Date(T0.getTime() + 11 * DAY))).toMatchObject([
      { kind: 'recovered', problem: 'stale' },
    ]);
  });

  it('turns a stale drill that runs and fails into a failing one, without a recovery in between', () => {
    const sim = new Simulation({ maxAge: DAY });
    sim.run('passed', at(0));
    expect(kinds(sim.evaluate(at(25)))).toEqual(['stale']);
    expect(kinds(sim.run('failed', at(30)))).toEqual(['failing']);
    expect(kinds(sim.run('passed', at(31)))).toEqual(['recovered']);
  });

  it('gives the same decisions the same keys, so replicas deciding together raise one alert', () => {
    const list = runs('passed', 'failed');
    const decide = () =>
      decideAlerts({
        drill: 'nightly',
        state: drillState(summarizeRuns(list), {}, at(2)),
        open: null,
        now: at(2),
        remindEveryMs: null,
      });
    expect(decide()).toEqual(decide());
    expect(decide()[0]!.key).toBe(`failing:nightly:${list[1]!.runId}`);
  });
});
