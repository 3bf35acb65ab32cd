import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDrillJob } from '../../jobs/drill.js';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import { listRuns } from '../../src/evidence/runs.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import type { PeriodicJob } from '../../src/schedule/job.js';
import { Scheduler, type SchedulerEvent } from '../../src/schedule/scheduler.js';
import { listSkips } from '../../src/schedule/slots.js';
import { configText, makeDirectorySet, type FixtureDrill } from '../helpers/drill-fixture.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { hookedSource } from '../helpers/hook-source.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

const EVERY_SECOND = '* * * * * *';

/** Polls `check` until true; fails after `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

/** Whether any two [start, end) intervals overlap. */
function overlapping(intervals: Array<[number, number]>): boolean {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  return sorted.some(
    (interval, i) => i > 0 && interval[0] < (sorted[i - 1] as [number, number])[1],
  );
}

describe('Scheduler (in process, real PostgreSQL, real folder restores)', () => {
  let t: TestStore;
  let base: string;
  let scheduler: Scheduler | undefined;
  let events: SchedulerEvent[];
  let counter = 0;

  beforeAll(async () => {
    t = await openTestStore('postgres');
    base = await tempDir('restore-drill-scheduler-');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);
  afterEach(async () => {
    await scheduler?.drain(0, 'test over');
    scheduler = undefined;
  }, 60_000);

  /** Drills with unique names (one database for the file); `sleepSeconds` makes the restore slow through a real `sleep`. */
  async function setUp(
    drills: Array<FixtureDrill & { sleepSeconds?: number }>,
    daemon: Record<string, unknown> = {},
  ) {
    const backups = path.join(base, `backups-${++counter}`);
    const named = drills.map((drill) => ({ ...drill, name: `${drill.name}-${counter}` }));
    for (const drill of named) {
      await makeDirectorySet(
        backups,
        drill.name,
        drill.sleepSeconds ? { preRestore: ['sleep', String(drill.sleepSeconds)] } : {},
      );
    }
    const load = (list: FixtureDrill[]): LoadedConfig =>
      parseConfig(
        configText({
          backupsDir: backups,
          scratchRoot: path.join(base, 'scratch'),
          drills: list,
          daemon: { timezone: 'UTC', ...daemon },
        }),
        path.join(base, 'c.yaml'),
        {},
        base,
      );
    return { names: named.map((drill) => drill.name), loaded: load(named), load };
  }

  function start(
    loaded: LoadedConfig,
    periodicJobs: PeriodicJob[] = [],
    options: { missedToleranceMs?: number } = {},
  ): Scheduler {
    events = [];
    scheduler = new Scheduler({
      loaded,
      db: t.store.db,
      leases: t.leases(),
      log: process.env.DEBUG_SCHED
        ? createLogger({ level: 'debug', format: 'json' })
        : silentLogger(),
      drillJob: createDrillJob({ createSource: hookedSource }),
      periodicJobs,
      onEvent: (event) => events.push(event),
      ...options,
    });
    scheduler.start();
    return scheduler;
  }

  async function startsOf(drills: string[]) {
    return t.store.db
      .selectFrom('run_starts')
      .selectAll()
      .where('drill', 'in', drills)
      .orderBy('started_at')
      .execute();
  }

  it('runs a drill on its cron slots, each start recorded with its slot on a whole second', async () => {
    const { names, loaded } = await setUp([{ name: 'every-second', schedule: EVERY_SECOND }]);
    start(loaded);
    await eventually(() => events.filter((event) => event.type === 'finished').length >= 2);
    await scheduler?.drain(10_000);
    const runs = await listRuns(t.store.db, { drill: names });
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const run of runs) {
      expect(run.trigger).toBe('schedule');
      expect(run.verdict).toBe('passed');
      expect(run.scheduledFor).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      // The slot is when the run was due, not when it started.
      expect(Date.parse(run.startedAt)).toBeGreaterThanOrEqual(
        Date.parse(run.scheduledFor as string),
      );
    }
  });

  it('skips the slots that come while the previous run is still going, recording each skip with the run it waited for', async () => {
    const { names, loaded } = await setUp([
      { name: 'slow', schedule: EVERY_SECOND, sleepSeconds: 2.2 },
    ]);
    start(loaded);
    await eventually(() => events.some((event) => event.type === 'finished'));
    await scheduler?.drain(10_000);
    const runs = await listRuns(t.store.db, { drill: names });
    const skips = await listSkips(t.store.db, { drill: names });
    const first = runs.at(-1);
    expect(skips.length).toBeGreaterThanOrEqual(1);
    const overlapSkips = skips.filter((skip) => skip.reason === 'overlap');
    expect(overlapSkips.length).toBeGreaterThanOrEqual(1);
    expect(overlapSkips[0]).toMatchObject({ blocking_run_id: first?.runId });
    expect(overlapSkips[0]?.detail).toContain(`run ${first?.runId}`);
    expect(
      overlapping(runs.map((run) => [Date.parse(run.startedAt), Date.parse(run.finishedAt)])),
    ).toBe(false);
    // Every slot between the first and the last decided is a start or a skip, never both.
    const starts = await startsOf(names);
    const decided = [
      ...starts.map((row) => row.scheduled_for?.getTime()),
      ...skips.map((skip) => skip.scheduled_for.getTime()),
    ];
    expect(new Set(decided).size).toBe(decided.length);
  });

  it('runs at most daemon.concurrency drills at once; due drills wait in slot order, then config order', async () => {
    const { names, loaded } = await setUp(
      [
        { name: 'x', schedule: EVERY_SECOND, sleepSeconds: 0.8 },
        { name: 'y', schedule: EVERY_SECOND, sleepSeconds: 0.8 },
        { name: 'z', schedule: EVERY_SECOND, sleepSeconds: 0.8 },
      ],
      { concurrency: 1 },
    );
    start(loaded);
    await eventually(() => events.filter((event) => event.type === 'finished').length >= 4);
    await scheduler?.drain(20_000);
    const starts = await startsOf(names);
    const firstSlot = starts[0]?.scheduled_for?.getTime() as number;
    expect(starts.slice(0, 3).map((row) => [row.drill, row.scheduled_for?.getTime()])).toEqual(
      names.map((name) => [name, firstSlot]),
    );
    expect((starts[3]?.scheduled_for?.getTime() ?? 0) > firstSlot).toBe(true);
    const runs = await listRuns(t.store.db, { drill: names });
    expect(
      overlapping(runs.map((run) => [Date.parse(run.startedAt), Date.parse(run.finishedAt)])),
    ).toBe(false);
    const reasons = new Set(
      (await listSkips(t.store.db, { drill: names })).map((skip) => skip.reason),
    );
    // y and z waited in the queue while their next slots came.
    expect(reasons.has('queued')).toBe(true);
  });

  it('runs several drills at once up to the limit', async () => {
    const { names, loaded } = await setUp(
      [
        { name: 'p', schedule: EVERY_SECOND, sleepSeconds: 1.5 },
        { name: 'q', schedule: EVERY_SECOND, sleepSeconds: 1.5 },
      ],
      { concurrency: 2 },
    );
    start(loaded);
    await eventually(
      () => scheduler?.status().running.filter((run) => run.runId !== null).length === 2,
    );
    await scheduler?.drain(20_000);
    const runs = await listRuns(t.store.db, { drill: names });
    expect(new Set(runs.map((run) => run.drill))).toEqual(new Set(names));
    expect(
      overlapping(runs.map((run) => [Date.parse(run.startedAt), Date.parse(run.finishedAt)])),
    ).toBe(true);
  });

  it('drains: no new runs, a running drill that ends within the timeout keeps its verdict', async () => {
    const { names, loaded } = await setUp([
      { name: 'drain-ok', schedule: EVERY_SECOND, sleepSeconds: 1 },
    ]);
    start(loaded);
    await eventually(() => scheduler?.status().running[0]?.runId != null);
    await scheduler?.drain(15_000);
    expect(scheduler?.status().state).toBe('stopped');
    const runs = await listRuns(t.store.db, { drill: names });
    expect(runs.map((run) => run.verdict)).toEqual(['passed']);
    expect(await startsOf(names)).toHaveLength(1);
    // No timer is left to start another: every schedule is gone.
    expect(scheduler?.status().drills).toEqual([
      { drill: names[0], schedule: EVERY_SECOND, next: null },
    ]);
  });

  it('aborts a drill still running at the drain timeout and records it aborted; queued slots are recorded as skipped for shutdown', async () => {
    const { names, loaded } = await setUp(
      [
        { name: 'long', schedule: EVERY_SECOND, sleepSeconds: 30 },
        { name: 'waiting', schedule: EVERY_SECOND },
      ],
      { concurrency: 1 },
    );
    start(loaded);
    await eventually(
      () =>
        scheduler?.status().running[0]?.runId != null &&
        (scheduler?.status().queued.length ?? 0) > 0,
    );
    const began = Date.now();
    await scheduler?.drain(500, 'received SIGTERM');
    expect(Date.now() - began).toBeLessThan(10_000);
    const [aborted] = await listRuns(t.store.db, { drill: [names[0] as string] });
    expect(aborted?.verdict).toBe('aborted');
    expect(aborted?.cause).toBe(
      'aborted: stopped before it finished: received SIGTERM and its drain timeout of 500ms passed',
    );
    const shutdown = (await listSkips(t.store.db, { drill: [names[1] as string] })).filter(
      (skip) => skip.reason === 'shutdown',
    );
    expect(shutdown).toHaveLength(1);
    expect(shutdown[0]?.detail).toBe(
      'waiting for a free run slot when the daemon was told to stop (received SIGTERM)',
    );
  });

  it('reschedules on reload: removed schedules stop, new ones start', async () => {
    const { names, loaded, load } = await setUp([
      { name: 'old', schedule: EVERY_SECOND },
      { name: 'new' },
    ]);
    start(loaded);
    await eventually(() =>
      events.some((event) => event.type === 'finished' && event.drill === names[0]),
    );
    scheduler?.reload(
      load([{ name: names[0] as string }, { name: names[1] as string, schedule: EVERY_SECOND }]),
    );
    expect(scheduler?.status().drills.map((drill) => drill.drill)).toEqual([names[1]]);
    const reloadedAt = Date.now();
    // Two runs of the new schedule: slots of the old one came and went meanwhile.
    await eventually(
      () =>
        events.filter((event) => event.type === 'finished' && event.drill === names[1]).length >= 2,
    );
    await scheduler?.drain(10_000);
    const oldStarts = await startsOf([names[0] as string]);
    expect(oldStarts.every((row) => row.started_at.getTime() < reloadedAt)).toBe(true);
  });

  it('records the slots a blocked daemon came too late for as missed', async () => {
    const { names, loaded } = await setUp([{ name: 'late', schedule: EVERY_SECOND }]);
    // Only node-cron's timer and the clock are fake: the database and the restores stay real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      start(loaded, [], { missedToleranceMs: 200 });
      // The timer fires 2.5 s after its slot, as after a blocked event loop or a suspended host.
      vi.setSystemTime(Date.now() + 2_500);
      await vi.advanceTimersToNextTimerAsync();
    } finally {
      vi.useRealTimers();
    }
    await eventually(async () =>
      (await listSkips(t.store.db, { drill: names })).some((skip) => skip.reason === 'missed'),
    );
    const missed = (await listSkips(t.store.db, { drill: names })).find(
      (skip) => skip.reason === 'missed',
    );
    expect(missed?.detail).toMatch(/^the daemon's timer came \d.* after the slot/);
    // A missed slot is never run late (the slot that is due when the timer comes may run).
    const startedSlots = (await startsOf(names)).map((row) => row.scheduled_for?.getTime());
    expect(startedSlots).not.toContain(missed?.scheduled_for.getTime());
  });

  it('runs periodic jobs on their schedules, skips a slot while the job still runs, and stops them on drain', async () => {
    const { loaded } = await setUp([{ name: 'unscheduled' }]);
    const seen: Array<{ slot: Date; aborted: boolean }> = [];
    const job: PeriodicJob = {
      name: 'test-job',
      schedule: () => EVERY_SECOND,
      async run({ scheduledFor }, { signal }) {
        const entry = { slot: scheduledFor, aborted: false };
        seen.push(entry);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_500);
          signal?.addEventListener('abort', () => {
            entry.aborted = true;
            clearTimeout(timer);
            resolve();
          });
        });
      },
    };
    start(loaded, [job]);
    expect(scheduler?.status().jobs).toEqual([
      { job: 'test-job', schedule: EVERY_SECOND, next: expect.any(String), running: false },
    ]);
    await eventually(() =>
      events.some((event) => event.type === 'job' && event.outcome === 'skipped'),
    );
    await eventually(() => seen.length >= 2);
    await scheduler?.drain(0);
    expect(seen.at(-1)?.aborted).toBe(true);
    expect(seen.every((entry) => entry.slot.getMilliseconds() === 0)).toBe(true);
    expect(
      events.filter((event) => event.type === 'job' && event.outcome === 'finished').length,
    ).toBeGreaterThanOrEqual(1);
  });
});
