import type {
  HeartbeatPayload,
  HeartbeatResult,
  StaleCheckPayload,
  StaleCheckResult,
} from './alerting.js';
import type { Job, PeriodicJob } from './job.js';

/**
 * The stale check as the daemon schedules it: on `daemon.staleCheck.schedule`
 * when the config has an `alerts` block, watching since the daemon started.
 */
export function staleCheckPeriodic(
  job: Job<StaleCheckPayload, StaleCheckResult>,
  watchingSince: Date,
): PeriodicJob<StaleCheckResult> {
  return {
    name: job.name,
    schedule: (config) => (config.alerts ? config.daemon.staleCheck.schedule : null),
    run: (_payload, context) => job.run({ watchingSince }, context),
  };
}

/** The heartbeat as the daemon schedules it: on `alerts.heartbeat.schedule`, one per slot across replicas. */
export function heartbeatPeriodic(
  job: Job<HeartbeatPayload, HeartbeatResult>,
): PeriodicJob<HeartbeatResult> {
  return {
    name: job.name,
    schedule: (config) => config.alerts?.heartbeat?.schedule ?? null,
    run: ({ scheduledFor }, context) => job.run({ slot: scheduledFor }, context),
  };
}
