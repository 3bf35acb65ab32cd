import { formatDuration } from '../model/duration.js';
import type { Check, CheckContext } from './check.js';
import type { CheckResult } from '../model/check-result.js';
import { durationSchema } from '../model/duration.js';
import { defineCheckKind } from './check-kind.js';

/**
 * `rpo`: the backup set's age when the run started (startedAt − set time) against the
 * recovery point objective. A set whose time is unknown fails: its age cannot be shown.
 * A set time in the future (clock skew) is a warning.
 */
export class RpoCheck implements Check {
  readonly name = 'rpo';

  constructor(private readonly rpoMs: number) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const expected = { maxAge: formatDuration(this.rpoMs), maxAgeMs: this.rpoMs };
    const setTime = context.set.mtime;
    if (setTime === null || Number.isNaN(setTime.getTime())) {
      return [
        {
          name: this.name,
          verdict: 'failed',
          expected,
          actual: { setTime: null },
          detail: 'set time unknown: the source gives no time for this set',
        },
      ];
    }
    const ageMs = context.startedAt.getTime() - setTime.getTime();
    const actual = { age: formatDuration(Math.abs(ageMs)), ageMs, setTime: setTime.toISOString() };
    if (ageMs < 0) {
      return [
        {
          name: this.name,
          verdict: 'warning',
          expected,
          actual,
          detail: `set time ${setTime.toISOString()} is ${formatDuration(-ageMs)} after the run started: clocks disagree`,
        },
      ];
    }
    const within = ageMs <= this.rpoMs;
    return [
      {
        name: this.name,
        verdict: within ? 'passed' : 'failed',
        expected,
        actual,
        detail: `set is ${formatDuration(ageMs)} old (taken ${setTime.toISOString()}), ${within ? 'within' : 'beyond'} the RPO of ${formatDuration(this.rpoMs)}`,
      },
    ];
  }
}

/** `targets.rpo`. */
export const rpoCheckKind = defineCheckKind({
  kind: 'rpo',
  section: 'targets',
  configSchema: durationSchema
    .optional()
    .describe(
      "Recovery point objective: the backup set's age at the run's start must be within this.",
    ),
  phase: 'targets',
  create: (rpoMs) => [new RpoCheck(rpoMs)],
});
