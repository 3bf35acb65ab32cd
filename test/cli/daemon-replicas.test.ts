import { readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import { findUnfinishedRuns, listRuns } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { listSkips } from '../../src/schedule/slots.js';
import { CliProcess, pidAlive, startDaemon } from '../helpers/daemon-process.js';
import { configText, makeDirectorySet, type FixtureDrill } from '../helpers/drill-fixture.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

const EVERY_SECOND = '* * * * * *';

/** Polls `check` (the evidence database) until true; fails after `ms`. */
async function waitUntil(check: () => Promise<boolean>, ms = 45_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(100);
  }
}

describe('restore-drill daemon replicas on one PostgreSQL (real processes)', () => {
  const processes: CliProcess[] = [];
  let url: string;
  let store: EvidenceStore;

  beforeAll(async () => {
    url = await createTestDatabase();
    store = await openEvidenceStore({
      url,
      embeddedDir: path.join(await tempDir(), 'unused'),
      log: silentLogger(),
    });
  }, SLOW_STORE_MS);
  afterAll(() => store?.close());
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((child) => child.kill()));
  });

  /** One config file per replica (each its own scratch root, as on separate machines), all on the same database. */
  async function replicaConfigs(
    count: number,
    drills: FixtureDrill[],
    daemon: Record<string, unknown> = {},
  ) {
    const dir = await tempDir('restore-drill-replicas-');
    const backups = path.join(dir, 'backups');
    const files: Array<{ config: string; scratch: string }> = [];
    for (let i = 0; i < count; i++) {
      const config = path.join(dir, `replica-${i}.yaml`);
      const scratch = path.join(dir, `scratch-${i}`);
      await writeFile(
        config,
        configText({
          backupsDir: backups,
          scratchRoot: scratch,
          drills,
          databaseUrl: url,
          daemon: { timezone: 'UTC', ...daemon },
        }),
      );
      files.push({ config, scratch });
    }
    return { dir, backups, files };
  }

  function daemon(config: string): CliProcess {
    const child = startDaemon(config);
    processes.push(child);
    return child;
  }

  it('runs each slot of each drill exactly once across two daemons, and never two runs of a drill at once', async () => {
    const suffix = Date.now().toString(36);
    const quick = `quick-${suffix}`;
    const slow = `slow-${suffix}`;
    const { backups, files } = await replicaConfigs(2, [
      { name: quick, schedule: EVERY_SECOND },
      { name: slow, schedule: EVERY_SECOND },
    ]);
    await makeDirectorySet(backups, quick);
    await makeDirectorySet(backups, slow, { preRestore: ['sleep', '1.5'] });
    const [a, b] = files.map((file) => daemon(file.config)) as [CliProcess, CliProcess];
    await Promise.all([
      a.waitForLog((line) => line.msg === 'daemon started'),
      b.waitForLog((line) => line.msg === 'daemon started'),
    ]);
    // Both are scheduling now: let them compete until six seconds after both were up are decided
    // (events, not wall time: under load a second of slots can take longer to decide).
    const bothUp = Date.now();
    const windowEnd = bothUp + 6000;
    await waitUntil(async () => {
      const quickStarts = await store.db
        .selectFrom('run_starts')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('drill', '=', quick)
        .executeTakeFirstOrThrow();
      // A slot after the window decided (a start or a skip) for each drill.
      const decided = await Promise.all(
        (['run_starts', 'run_skips'] as const).flatMap((table) =>
          [quick, slow].map((drill) =>
            store.db
              .selectFrom(table)
              .select('drill')
              .where('drill', '=', drill)
              .where('scheduled_for', '>', new Date(windowEnd))
              .executeTakeFirst(),
          ),
        ),
      );
      const drillsDecided = new Set(decided.map((row) => row?.drill));
      return Number(quickStarts.count) >= 5 && drillsDecided.has(quick) && drillsDecided.has(slow);
    });
    a.signal('SIGTERM');
    b.signal('SIGTERM');
    expect((await a.waitForExit()).code).toBe(0);
    expect((await b.waitForExit()).code).toBe(0);

    const starts = await store.db
      .selectFrom('run_starts')
      .select(['run_id', 'drill', 'scheduled_for', 'pid'])
      .where('drill', 'in', [quick, slow])
      .execute();
    const skips = await listSkips(store.db, { drill: [quick, slow] });
    for (const drill of [quick, slow]) {
      const slots = [
        ...starts
          .filter((row) => row.drill === drill)
          .map((row) => row.scheduled_for?.toISOString()),
        ...skips.filter((row) => row.drill === drill).map((row) => row.scheduled_for.toISOString()),
      ];
      // One start or one skip per slot, never two of either.
      expect(new Set(slots).size, drill).toBe(slots.length);
      // Every second while both ran was decided by one of them.
      const window = slots.filter(
        (slot) =>
          Date.parse(slot as string) >= bothUp + 1000 && Date.parse(slot as string) <= windowEnd,
      );
      expect(window.length, drill).toBeGreaterThanOrEqual(5);
    }
    const quickStarts = starts.filter((row) => row.drill === quick);
    expect(quickStarts.length).toBeGreaterThanOrEqual(5);
    const runs = await listRuns(store.db, { drill: [slow] });
    const intervals = runs
      .map((run) => [Date.parse(run.startedAt), Date.parse(run.finishedAt)] as const)
      .sort((x, y) => x[0] - y[0]);
    intervals.forEach((interval, i) => {
      if (i > 0)
        expect(interval[0]).toBeGreaterThanOrEqual(
          (intervals[i - 1] as readonly [number, number])[1],
        );
    });
    expect(
      skips.filter((skip) => skip.drill === slow && skip.reason === 'overlap').length,
    ).toBeGreaterThanOrEqual(1);
    expect(
      await findUnfinishedRuns(store.db).then((rows) =>
        rows.filter((row) => row.drill === quick || row.drill === slow),
      ),
    ).toEqual([]);
  });

  it('after kill -9 of a replica mid-run, the other goes on, the slot is never run again, and the restart records it aborted and removes its scratch folder', async () => {
    const drill = `crash-${Date.now().toString(36)}`;
    const { dir, backups, files } = await replicaConfigs(2, [
      { name: drill, schedule: '*/2 * * * * *' },
    ]);
    const pidFile = path.join(dir, 'restore.pids');
    const marker = path.join(dir, 'hung-once');
    // The first restore hangs (its replica is then killed); later ones pass.
    await makeDirectorySet(backups, drill, {
      preRestore: [
        'sh',
        '-c',
        `[ -e ${marker} ] && exit 0; touch ${marker}; echo $$ >> ${pidFile}; exec sleep 120`,
      ],
    });
    const [first, second] = files as [
      { config: string; scratch: string },
      { config: string; scratch: string },
    ];
    const victim = daemon(first.config);
    const restoring = await victim.waitForLog((line) => line.msg === 'restoring');
    const other = daemon(second.config);
    // While the victim's run is alive, the other replica does not run the drill: a slot is skipped
    // as an overlap naming that run. Either replica may be first to record the skip (the victim
    // schedules too), so the other's own line is "slot skipped" or "already decided … skip".
    const decided = await other.waitForLog(
      (line) =>
        line.msg === 'slot skipped' ||
        (line.msg === 'slot already decided by another replica' && line.by === 'skip'),
    );
    const [skip] = await listSkips(store.db, { drill: [drill] }).then((rows) =>
      rows.filter((row) => row.scheduled_for.toISOString() === decided.slot),
    );
    expect(skip).toMatchObject({ reason: 'overlap', blocking_run_id: restoring.runId });
    expect(other.logs.filter((line) => line.msg === 'restoring')).toEqual([]);

    victim.signal('SIGKILL');
    await victim.waitForExit();
    for (const pid of (await readFile(pidFile, 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number)) {
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    expect(await readdir(first.scratch)).toHaveLength(1);
    // Its lease gone with its session, the dead run no longer blocks: the other replica runs the next slots.
    const mark = other.logs.length;
    const next = await other.waitForLog((line) => line.msg === 'drill finished', 60_000, mark);
    expect(next).toMatchObject({ verdict: 'passed' });

    // The restarted replica (same host, same scratch) closes the dead run at start.
    const restarted = daemon(first.config);
    const recovered = await restarted.waitForLog(
      (line) =>
        line.runId === restoring.runId && String(line.msg).includes('died before the run finished'),
    );
    expect(recovered).toMatchObject({ scratchRemoved: true });
    expect(
      await readdir(first.scratch).then((names) =>
        names.filter((name) => name.includes(String(restoring.runId).slice(0, 8))),
      ),
    ).toEqual([]);
    restarted.signal('SIGTERM');
    other.signal('SIGTERM');
    expect((await restarted.waitForExit()).code).toBe(0);
    expect((await other.waitForExit()).code).toBe(0);
    const [run] = await listRuns(store.db, { drill: [drill] }).then((runs) =>
      runs.filter((r) => r.runId === restoring.runId),
    );
    expect(run).toMatchObject({ verdict: 'aborted', trigger: 'schedule' });
    expect(run?.cause).toMatch(
      new RegExp(`^aborted: process ${victim.pid} on ${hostname()} died before the run finished`),
    );
    // Its slot was run once, by the replica that died: never again.
    const slot = await store.db
      .selectFrom('run_starts')
      .select('run_id')
      .where('drill', '=', drill)
      .where('scheduled_for', '=', new Date(run?.scheduledFor as string))
      .execute();
    expect(slot).toEqual([{ run_id: restoring.runId }]);
    expect(
      await findUnfinishedRuns(store.db).then((rows) => rows.filter((row) => row.drill === drill)),
    ).toEqual([]);
  });
});
