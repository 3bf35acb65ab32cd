import { Counter, Gauge, Registry } from 'prom-client';
import type { MetricsSource } from './http.js';
import type { SchedulerEvent, SchedulerStatus } from './scheduler.js';

/** The daemon's own metrics: what its scheduler decided and did (the drills' results come from the evidence metrics). */
export interface DaemonMetrics extends MetricsSource {
  readonly registry: Registry;
  /** Counts a scheduler event. */
  observe(event: SchedulerEvent): void;
  /** Counts a SIGHUP reload. */
  reloaded(ok: boolean): void;
}

/**
 * Counters and gauges of one daemon process, on a private registry (never
 * prom-client's global one). Counters restart at zero with the process, as
 * Prometheus expects; the durable record of every slot is in the database.
 */
export function createDaemonMetrics(status: () => SchedulerStatus, startedAt: Date): DaemonMetrics {
  const registry = new Registry();
  const registers = [registry];
  const slots = new Counter({
    name: 'restore_drill_daemon_slots_total',
    help: 'Scheduled drill slots this daemon decided, by outcome: claimed (ran here), taken (by another replica), or the skip reason (overlap, queued, missed, shutdown).',
    labelNames: ['drill', 'outcome'],
    registers,
  });
  const runs = new Counter({
    name: 'restore_drill_daemon_runs_total',
    help: 'Scheduled drill runs this daemon finished, by verdict.',
    labelNames: ['drill', 'verdict'],
    registers,
  });
  const runFailures = new Counter({
    name: 'restore_drill_daemon_run_failures_total',
    help: 'Scheduled drill runs that could not record a verdict (evidence database unreachable, say).',
    labelNames: ['drill'],
    registers,
  });
  const jobs = new Counter({
    name: 'restore_drill_daemon_jobs_total',
    help: 'Periodic job runs (scratch sweep, stale check), by outcome.',
    labelNames: ['job', 'outcome'],
    registers,
  });
  const reloads = new Counter({
    name: 'restore_drill_daemon_reloads_total',
    help: 'Config reloads on SIGHUP, by result (ok, invalid).',
    labelNames: ['result'],
    registers,
  });
  const lastReloadOk = new Gauge({
    name: 'restore_drill_daemon_last_reload_success',
    help: 'Whether the last config reload was applied (1) or refused (0); 1 before any.',
    registers,
  });
  lastReloadOk.set(1);
  new Gauge({
    name: 'restore_drill_daemon_start_time_seconds',
    help: 'When this daemon process started (Unix time).',
    registers,
    collect() {
      this.set(startedAt.getTime() / 1000);
    },
  });
  new Gauge({
    name: 'restore_drill_daemon_running_drills',
    help: 'Drills this daemon is running now.',
    registers,
    collect() {
      this.set(status().running.length);
    },
  });
  new Gauge({
    name: 'restore_drill_daemon_queued_drills',
    help: 'Drill slots waiting for a free run slot (daemon.concurrency).',
    registers,
    collect() {
      this.set(status().queued.length);
    },
  });
  new Gauge({
    name: 'restore_drill_daemon_draining',
    help: 'Whether the daemon is draining (1) after SIGTERM/SIGINT.',
    registers,
    collect() {
      this.set(status().state === 'draining' ? 1 : 0);
    },
  });
  return {
    registry,
    observe(event) {
      if (event.type === 'slot')
        slots.inc({
          drill: event.drill,
          outcome: event.outcome === 'skipped' ? (event.reason ?? 'skipped') : event.outcome,
        });
      else if (event.type === 'finished') runs.inc({ drill: event.drill, verdict: event.verdict });
      else if (event.type === 'failed') runFailures.inc({ drill: event.drill });
      else jobs.inc({ job: event.job, outcome: event.outcome });
    },
    reloaded(ok) {
      reloads.inc({ result: ok ? 'ok' : 'invalid' });
      lastReloadOk.set(ok ? 1 : 0);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
