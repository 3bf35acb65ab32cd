import { createTask, type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import type { LoadedConfig } from '../config/load.js';
import { formatDuration } from '../model/duration.js';
import type { DrillJobPayload, RunDrillResult, RunGate } from '../drill/run-drill.js';
import type { EvidenceDb } from '../evidence/database.js';
import { reasonOf } from '../evidence/errors.js';
import type { Logger } from '../log/logger.js';
import type { Job, PeriodicJob } from './job.js';
import type { RunLeases } from './run-leases.js';
import type { SkipReason } from '../evidence/run-skips.table.js';
import { claimSlot, recordSlotSkip, slotTime, type SlotOutcome } from './slots.js';
import type { ProgressListener } from '../drill/progress.js';

/** How late a timer may fire and still run its slot; later, the slot is recorded as missed. */
const DEFAULT_MISSED_TOLERANCE_MS = 30_000;
/** After the drain timeout has aborted the runs, how long they get to record their verdict. */
const ABORT_GRACE_MS = 30_000;

export interface SchedulerOptions {
  loaded: LoadedConfig;
  db: EvidenceDb;
  leases: RunLeases;
  log: Logger;
  drillJob: Job<DrillJobPayload, RunDrillResult>;
  periodicJobs?: readonly PeriodicJob[];
  /** Told of every slot decision and finished run (the daemon's metrics count them). */
  onEvent?: (event: SchedulerEvent) => void;
  /** Told how each running drill is getting on (a status line per drill in the foreground). */
  onProgress?: ProgressListener | undefined;
  missedToleranceMs?: number;
  now?: () => Date;
}

/** What the scheduler tells `onEvent`. */
export type SchedulerEvent =
  | {
      type: 'slot';
      drill: string;
      slot: Date;
      outcome: SlotOutcome['outcome'];
      reason?: SkipReason;
    }
  | { type: 'finished'; drill: string; slot: Date; verdict: string }
  | { type: 'failed'; drill: string; slot: Date; error: string }
  | { type: 'job'; job: string; outcome: 'finished' | 'failed' | 'skipped' };

/** A drill slot waiting for a free run slot, or running. */
export interface SlotEntry {
  drill: string;
  slot: Date;
}

/** A drill run of this daemon. */
export interface RunningDrill extends SlotEntry {
  /** Known once the start is recorded. */
  runId: string | null;
  since: Date;
}

/** What /healthz shows of the scheduler. */
export interface SchedulerStatus {
  state: 'idle' | 'running' | 'draining' | 'stopped';
  concurrency: number;
  timezone: string;
  drills: Array<{ drill: string; schedule: string; next: string | null }>;
  jobs: Array<{ job: string; schedule: string; next: string | null; running: boolean }>;
  running: Array<{ drill: string; slot: string; runId: string | null; since: string }>;
  queued: Array<{ drill: string; slot: string }>;
}

interface Running extends RunningDrill {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Runs drills on their cron schedules, and the periodic jobs on theirs. Every
 * slot of a drill ends as one run start or one recorded skip across all
 * replicas sharing the database (see claimSlot): a drill whose previous run
 * is still going, or whose previous slot still waits here, is skipped. At most
 * `daemon.concurrency` drills run at once; the rest wait in order of slot time
 * (then of the drills' order in the config). `drain` stops scheduling, lets
 * running drills finish within the drain timeout and then aborts them, so each
 * records its verdict.
 */
export class Scheduler {
  #loaded: LoadedConfig;
  readonly #db: EvidenceDb;
  readonly #leases: RunLeases;
  readonly #log: Logger;
  readonly #drillJob: Job<DrillJobPayload, RunDrillResult>;
  readonly #periodic: readonly PeriodicJob[];
  readonly #onEvent: (event: SchedulerEvent) => void;
  readonly #onProgress: ProgressListener | undefined;
  readonly #tolerance: number;
  readonly #now: () => Date;
  #state: SchedulerStatus['state'] = 'idle';
  #drillTasks = new Map<string, ScheduledTask>();
  #jobTasks = new Map<string, ScheduledTask>();
  #queue: SlotEntry[] = [];
  readonly #running = new Map<string, Running>();
  readonly #jobsRunning = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** Per drill, the last slot decided (ms): a slot is decided once, by whichever timer of that instant fires first. */
  readonly #decided = new Map<string, number>();
  /** Skips and other bookkeeping writes still in flight; drain waits for them. */
  readonly #pending = new Set<Promise<unknown>>();

  constructor(options: SchedulerOptions) {
    this.#loaded = options.loaded;
    this.#db = options.db;
    this.#leases = options.leases;
    this.#log = options.log;
    this.#drillJob = options.drillJob;
    this.#periodic = options.periodicJobs ?? [];
    this.#onEvent = options.onEvent ?? (() => {});
    this.#onProgress = options.onProgress;
    this.#tolerance = options.missedToleranceMs ?? DEFAULT_MISSED_TOLERANCE_MS;
    this.#now = options.now ?? (() => new Date());
  }

  /** The config the scheduler runs under now. */
  get loaded(): LoadedConfig {
    return this.#loaded;
  }

  /** Schedules every drill that has a `schedule`, and every periodic job. */
  start(): void {
    if (this.#state !== 'idle') throw new Error(`the scheduler cannot start: it is ${this.#state}`);
    this.#state = 'running';
    this.#scheduleAll();
  }

  /** Reschedules under a new (already validated) config; running drills go on under the config they started with. */
  reload(loaded: LoadedConfig): void {
    if (this.#state !== 'running') return;
    this.#loaded = loaded;
    this.#unscheduleAll();
    this.#scheduleAll();
    this.#pump();
  }

  /**
   * Stops scheduling; slots still queued are recorded as skipped (`shutdown`);
   * running drills get `timeoutMs` to finish, then are aborted with `reason`
   * and given a short grace to record their verdict. Resolves when all is done.
   */
  async drain(timeoutMs: number, reason = 'the daemon is stopping'): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'draining') return;
    this.#state = 'draining';
    this.#unscheduleAll();
    const dropped = this.#queue.splice(0);
    for (const entry of dropped) {
      this.#skip(
        entry,
        'shutdown',
        `waiting for a free run slot when the daemon was told to stop (${reason})`,
      );
    }
    const work = (): Promise<unknown> =>
      Promise.allSettled([
        ...[...this.#running.values()].map((run) => run.done),
        ...[...this.#jobsRunning.values()].map((job) => job.done),
      ]);
    if (this.#running.size > 0 || this.#jobsRunning.size > 0) {
      this.#log.info(
        {
          running: [...this.#running.keys()],
          jobs: [...this.#jobsRunning.keys()],
          drainTimeout: formatDuration(timeoutMs),
        },
        'draining: waiting for running drills',
      );
      const finished = await waitFor(work(), timeoutMs);
      if (!finished) {
        this.abortRunning(`${reason} and its drain timeout of ${formatDuration(timeoutMs)} passed`);
        if (!(await waitFor(work(), ABORT_GRACE_MS))) {
          this.#log.error(
            { running: [...this.#running.keys()] },
            'drills did not stop after being aborted; the next start will record them as aborted',
          );
        }
      }
    }
    await Promise.allSettled([...this.#pending]);
    this.#state = 'stopped';
  }

  /** Aborts every running drill and job now (a second SIGTERM, or the drain timeout): each records `aborted`. */
  abortRunning(reason: string): void {
    for (const run of this.#running.values()) run.controller.abort(new Error(reason));
    for (const job of this.#jobsRunning.values()) job.controller.abort(new Error(reason));
  }

  status(): SchedulerStatus {
    const config = this.#loaded.config;
    const next = (task: ScheduledTask | undefined) => task?.getNextRun()?.toISOString() ?? null;
    return {
      state: this.#state,
      concurrency: config.daemon.concurrency,
      timezone: config.daemon.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
      drills: config.drills
        .filter((drill) => drill.schedule !== undefined)
        .map((drill) => ({
          drill: drill.name,
          schedule: drill.schedule as string,
          next: next(this.#drillTasks.get(drill.name)),
        })),
      jobs: this.#periodic.flatMap((job) => {
        const schedule = job.schedule(config);
        return schedule === null
          ? []
          : [
              {
                job: job.name,
                schedule,
                next: next(this.#jobTasks.get(job.name)),
                running: this.#jobsRunning.has(job.name),
              },
            ];
      }),
      running: [...this.#running.values()].map((run) => ({
        drill: run.drill,
        slot: run.slot.toISOString(),
        runId: run.runId,
        since: run.since.toISOString(),
      })),
      queued: this.#queue.map((entry) => ({ drill: entry.drill, slot: entry.slot.toISOString() })),
    };
  }

  #scheduleAll(): void {
    const config = this.#loaded.config;
    const timezone = config.daemon.timezone;
    for (const drill of config.drills) {
      if (drill.schedule === undefined) continue;
      const name = drill.name;
      const task = this.#createTask(drill.schedule, `drill:${name}`, timezone, (slot) =>
        this.#onSlot(name, slot),
      );
      task.on('execution:missed', (context) => this.#onMissed(name, context.date));
      this.#drillTasks.set(name, task);
    }
    for (const job of this.#periodic) {
      const schedule = job.schedule(config);
      if (schedule === null) continue;
      this.#jobTasks.set(
        job.name,
        this.#createTask(schedule, `job:${job.name}`, timezone, (slot) =>
          this.#onJobSlot(job, slot),
        ),
      );
    }
    this.#log.info(
      {
        drills: [...this.#drillTasks.keys()],
        jobs: [...this.#jobTasks.keys()],
        timezone: timezone ?? 'host',
        concurrency: config.daemon.concurrency,
      },
      'schedules set',
    );
  }

  #createTask(
    expression: string,
    name: string,
    timezone: string | undefined,
    onSlot: (slot: Date) => void,
  ): ScheduledTask {
    const task = createTask(expression, (context) => onSlot(slotTime(context.date)), {
      name,
      ...(timezone ? { timezone } : {}),
      distributed: false,
      missedExecutionTolerance: this.#tolerance,
      logger: cronLogger(this.#log),
    });
    void task.start();
    return task;
  }

  #unscheduleAll(): void {
    for (const task of [...this.#drillTasks.values(), ...this.#jobTasks.values()])
      void task.destroy();
    this.#drillTasks.clear();
    this.#jobTasks.clear();
  }

  /**
   * A drill's timer fired. Every drill due at this same instant is decided now, in
   * config order: the timers of one instant fire in no set order, and the queue
   * must not depend on which came first.
   */
  #onSlot(drill: string, slot: Date): void {
    if (this.#state !== 'running') return;
    const at = slot.getTime();
    if (this.#decided.get(drill) === at) return;
    for (const candidate of this.#loaded.config.drills) {
      const due =
        candidate.name === drill || this.#drillTasks.get(candidate.name)?.match(slot) === true;
      if (!due || this.#decided.get(candidate.name) === at) continue;
      this.#decided.set(candidate.name, at);
      this.#decide(candidate.name, slot);
    }
    this.#pump();
  }

  /** Queues a drill's slot, or skips it when the drill is already busy here. */
  #decide(drill: string, slot: Date): void {
    const running = this.#running.get(drill);
    const queued = this.#queue.find((entry) => entry.drill === drill);
    if (running?.runId) {
      const detail = `run ${running.runId} (slot ${running.slot.toISOString()}) of this drill is still going on this daemon`;
      this.#skip({ drill, slot }, 'overlap', detail, running.runId);
      return;
    }
    if (running) {
      this.#skip(
        { drill, slot },
        'overlap',
        `slot ${running.slot.toISOString()} of this drill is starting on this daemon`,
      );
      return;
    }
    if (queued) {
      this.#skip(
        { drill, slot },
        'queued',
        `slot ${queued.slot.toISOString()} of this drill is still waiting for a free run slot on this daemon (daemon.concurrency)`,
      );
      return;
    }
    this.#queue.push({ drill, slot });
    const order = new Map(
      this.#loaded.config.drills.map((candidate, index) => [candidate.name, index]),
    );
    this.#queue.sort(
      (a, b) =>
        a.slot.getTime() - b.slot.getTime() ||
        (order.get(a.drill) ?? 0) - (order.get(b.drill) ?? 0),
    );
    if (this.#running.size >= this.#loaded.config.daemon.concurrency) {
      this.#log.info(
        { drill, slot, running: this.#running.size, queued: this.#queue.length },
        'drill queued: concurrency limit reached',
      );
    }
  }

  #onMissed(drill: string, date: Date): void {
    if (this.#state !== 'running') return;
    const slot = slotTime(date);
    if (this.#decided.get(drill) === slot.getTime()) return;
    this.#decided.set(drill, slot.getTime());
    const late = formatDuration(this.#now().getTime() - slot.getTime());
    this.#skip(
      { drill, slot },
      'missed',
      `the daemon's timer came ${late} after the slot (blocked event loop, suspended host or clock change)`,
    );
  }

  /** Starts queued slots while run slots are free. */
  #pump(): void {
    while (
      this.#state === 'running' &&
      this.#running.size < this.#loaded.config.daemon.concurrency &&
      this.#queue.length > 0
    ) {
      this.#startRun(this.#queue.shift() as SlotEntry);
    }
  }

  #startRun(entry: SlotEntry): void {
    const loaded = this.#loaded;
    if (!loaded.config.drills.some((drill) => drill.name === entry.drill)) {
      this.#log.warn(
        { drill: entry.drill, slot: entry.slot },
        'drill no longer in the config; its queued slot is dropped',
      );
      return;
    }
    const log = this.#log.child({ drill: entry.drill, slot: entry.slot.toISOString() });
    const controller = new AbortController();
    const run: Running = {
      ...entry,
      runId: null,
      since: this.#now(),
      controller,
      done: Promise.resolve(),
    };
    const gate: RunGate = {
      hold: (runId) => this.#leases.hold(runId),
      claim: async (start) => {
        const outcome = await claimSlot(this.#db, this.#leases, start);
        this.#reportSlot(entry, outcome, log);
        if (outcome.outcome === 'claimed') run.runId = start.runId;
        return outcome.outcome === 'claimed';
      },
    };
    this.#running.set(entry.drill, run);
    run.done = this.#drillJob
      .run(
        { drill: entry.drill, trigger: 'schedule', scheduledFor: entry.slot },
        {
          loaded,
          db: this.#db,
          log: this.#log.child({ slot: entry.slot.toISOString() }),
          signal: controller.signal,
          gate,
          ...(this.#onProgress ? { onProgress: this.#onProgress } : {}),
        },
      )
      .then((result) => {
        if (result.status !== 'finished') return;
        this.#onEvent({
          type: 'finished',
          drill: entry.drill,
          slot: entry.slot,
          verdict: result.record.verdict,
        });
      })
      .catch((error: unknown) => {
        log.error({ err: reasonOf(error) }, 'scheduled drill could not run');
        this.#onEvent({
          type: 'failed',
          drill: entry.drill,
          slot: entry.slot,
          error: reasonOf(error),
        });
      })
      .finally(() => {
        this.#running.delete(entry.drill);
        this.#pump();
      });
  }

  #onJobSlot(job: PeriodicJob, slot: Date): void {
    if (this.#state !== 'running') return;
    const log = this.#log.child({ job: job.name, slot: slot.toISOString() });
    if (this.#jobsRunning.has(job.name)) {
      log.warn('job skipped: its previous run is still going');
      this.#onEvent({ type: 'job', job: job.name, outcome: 'skipped' });
      return;
    }
    const controller = new AbortController();
    const done = Promise.resolve()
      .then(() =>
        job.run(
          { scheduledFor: slot },
          {
            loaded: this.#loaded,
            db: this.#db,
            log,
            signal: controller.signal,
            leases: this.#leases,
          },
        ),
      )
      .then(() => this.#onEvent({ type: 'job', job: job.name, outcome: 'finished' }))
      .catch((error: unknown) => {
        log.error({ err: reasonOf(error) }, 'job failed');
        this.#onEvent({ type: 'job', job: job.name, outcome: 'failed' });
      })
      .finally(() => this.#jobsRunning.delete(job.name));
    this.#jobsRunning.set(job.name, { controller, done });
  }

  #skip(
    entry: SlotEntry,
    reason: SkipReason,
    detail: string,
    blockingRunId: string | null = null,
  ): void {
    const log = this.#log.child({ drill: entry.drill, slot: entry.slot.toISOString() });
    const write = recordSlotSkip(this.#db, {
      drill: entry.drill,
      slot: entry.slot,
      reason,
      detail,
      blockingRunId,
      now: this.#now(),
    })
      .then((outcome) => this.#reportSlot(entry, outcome, log))
      .catch((error: unknown) =>
        log.error({ err: reasonOf(error), reason, detail }, 'could not record a skipped slot'),
      )
      .finally(() => this.#pending.delete(write));
    this.#pending.add(write);
  }

  #reportSlot(entry: SlotEntry, outcome: SlotOutcome, log: Logger): void {
    if (outcome.outcome === 'skipped') {
      log.warn(
        { reason: outcome.reason, blockingRunId: outcome.blockingRunId, detail: outcome.detail },
        'slot skipped',
      );
      this.#onEvent({
        type: 'slot',
        drill: entry.drill,
        slot: entry.slot,
        outcome: 'skipped',
        reason: outcome.reason,
      });
    } else {
      if (outcome.outcome === 'taken')
        log.info({ by: outcome.by }, 'slot already decided by another replica');
      this.#onEvent({
        type: 'slot',
        drill: entry.drill,
        slot: entry.slot,
        outcome: outcome.outcome,
      });
    }
  }
}

/** node-cron's own messages, through our logger. */
function cronLogger(log: Logger): CronLogger {
  const text = (message: string | Error) => (message instanceof Error ? message.message : message);
  return {
    info: (message) => log.debug({ component: 'node-cron' }, message),
    warn: (message) => log.warn({ component: 'node-cron' }, message),
    error: (message, err) =>
      log.error({ component: 'node-cron', err: err?.message }, text(message)),
    debug: (message) => log.debug({ component: 'node-cron' }, text(message)),
  };
}

/** True when `work` settled within `ms`. */
async function waitFor(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
