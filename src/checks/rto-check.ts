import { formatDuration } from '../model/duration.js';
import type { Check, CheckContext } from './check.js';
import type { CheckResult } from '../model/check-result.js';
import { durationSchema } from '../model/duration.js';
import { defineCheckKind } from './check-kind.js';

/** `rto`: restore plus verification so far against the recovery time objective. Runs last, so it sees every other check's time. */
export class RtoCheck implements Check {
  readonly name = 'rto';

  constructor(private readonly rtoMs: number) {}

  async run(context: CheckContext): Promise<CheckResult[]> {
    const elapsedMs = Math.round(context.elapsedMs());
    const within = elapsedMs <= this.rtoMs;
    return [
      {
        name: this.name,
        verdict: within ? 'passed' : 'failed',
        expected: { maxDuration: formatDuration(this.rtoMs), maxDurationMs: this.rtoMs },
        actual: { duration: formatDuration(elapsedMs), durationMs: elapsedMs },
        detail: `restore and verification took ${formatDuration(elapsedMs)}, ${within ? 'within' : 'beyond'} the RTO of ${formatDuration(this.rtoMs)}`,
      },
    ];
  }
}

/** `targets.rto`: registered last, so it runs last and sees every other check's time. */
export const rtoCheckKind = defineCheckKind({
  kind: 'rto',
  section: 'targets',
  configSchema: durationSchema
    .optional()
    .describe('Recovery time objective: restore plus verification must finish within this.'),
  phase: 'targets',
  create: (rtoMs) => [new RtoCheck(rtoMs)],
});
