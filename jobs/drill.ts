import { Alerting } from '../src/schedule/alerting.js';
import {
  runDrill,
  type DrillJobPayload,
  type RunDrillRequest,
  type RunDrillResult,
} from '../src/drill/run-drill.js';
import type { Job } from '../src/schedule/job.js';
import { runSelftest, selftestDue } from '../src/drill/selftest.js';
import { recordSelftest } from '../src/evidence/selftests.js';

/** How long a run waits for failed alert sends to be retried; the rest waits in the alert log for the next delivery. */
const ALERT_WAIT_MS = 20_000;

/**
 * The restore drill: select, restore, verify, record; then the alerts its verdict
 * calls for. `createSource` replaces the registry's factory (tests wrap real sources with it).
 */
export function createDrillJob(
  options: Pick<RunDrillRequest, 'createSource'> = {},
): Job<DrillJobPayload, RunDrillResult> {
  return {
    name: 'drill',
    async run(payload, { loaded, db, log, signal, gate, onProgress }) {
      const drill = loaded.config.drills.find((candidate) => candidate.name === payload.drill);
      if (!drill) throw new Error(`no drill named '${payload.drill}' in ${loaded.file}`);
      const result = await runDrill({
        drill,
        config: loaded.config,
        configDir: loaded.dir,
        db,
        log,
        trigger: payload.trigger,
        scheduledFor: payload.scheduledFor ?? null,
        replay: payload.replay ?? null,
        ...(signal ? { signal } : {}),
        ...(gate ? { gate } : {}),
        ...(onProgress ? { onProgress } : {}),
        ...(options.createSource ? { createSource: options.createSource } : {}),
      });
      // A result still in the spool is not in the store the alerts read: its alerts come after the replay.
      if (result.status === 'finished' && result.recorded.in === 'store' && loaded.config.alerts) {
        // Alerting never changes a run's verdict: a failure here is logged, and the log keeps what is undelivered.
        try {
          await new Alerting({ loaded, db, log }).afterRun(drill.name, {
            waitMs: ALERT_WAIT_MS,
            signal,
          });
        } catch (error) {
          log.error(
            { drill: drill.name, err: error },
            'could not raise or deliver alerts for this run',
          );
        }
      }
      // Proof that the checks bite, every Nth run (selftest.every): its own record; never the run's verdict.
      if (
        result.status === 'finished' &&
        result.recorded.in === 'store' &&
        payload.trigger === 'schedule' &&
        (await selftestDue(db, drill).catch(() => false))
      ) {
        try {
          const record = await runSelftest({
            drill,
            config: loaded.config,
            configDir: loaded.dir,
            db,
            log,
            ...(signal ? { signal } : {}),
          });
          await recordSelftest(db, record);
          log.info(
            {
              drill: drill.name,
              selftestId: record.runId,
              verdict: record.verdict,
              undetected: record.damages.filter((damage) => !damage.detected).map((d) => d.kind),
            },
            'selftest finished',
          );
        } catch (error) {
          log.error({ drill: drill.name, err: error }, 'could not run or record the selftest');
        }
      }
      return result;
    },
  };
}

/** The restore drill job the CLI and the daemon run. */
export const drillJob = createDrillJob();
