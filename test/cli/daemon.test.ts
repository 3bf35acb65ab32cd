import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { openEvidenceStore } from '../../src/evidence/open-store.js';
import { findUnfinishedRuns, listRuns } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { listSkips } from '../../src/schedule/slots.js';
import { CliProcess, pidAlive, startDaemon } from '../helpers/daemon-process.js';
import { configText, makeDirectorySet, type FixtureDrill } from '../helpers/drill-fixture.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase, createTestEmbeddedDir } from '../helpers/test-database.js';

const EVERY_2S = '*/2 * * * * *';

/**
 * A config folder with its own evidence database, backups and scratch: embedded (a copy of the
 * PGlite template as `.restore-drill`, the default), or a fresh database on the test server for
 * tests whose behaviour does not depend on the engine (a daemon on PGlite costs seconds of CPU).
 */
async function workspace(engine: 'pglite' | 'postgres' = 'pglite') {
  const dir = await tempDir('restore-drill-daemon-cli-');
  const databaseUrl = engine === 'postgres' ? await createTestDatabase() : undefined;
  if (databaseUrl === undefined) {
    const embedded = await createTestEmbeddedDir();
    await rename(embedded.dir, path.join(dir, '.restore-drill'));
  }
  const backups = path.join(dir, 'backups');
  const scratch = path.join(dir, 'scratch');
  const config = path.join(dir, 'restore-drill.yaml');
  const write = (drills: FixtureDrill[], daemon: Record<string, unknown> = {}) =>
    writeFile(
      config,
      configText({
        backupsDir: backups,
        scratchRoot: scratch,
        drills,
        ...(databaseUrl ? { databaseUrl } : {}),
        daemon: { timezone: 'UTC', listen: { port: 0 }, ...daemon },
      }),
    );
  /** Reads the evidence once no daemon holds the database. */
  const evidence = async <T>(
    read: (store: Awaited<ReturnType<typeof openEvidenceStore>>) => Promise<T>,
  ): Promise<T> => {
    const store = await openEvidenceStore({
      ...(databaseUrl ? { url: databaseUrl } : {}),
      embeddedDir: path.join(dir, '.restore-drill'),
      log: silentLogger(),
    });
    try {
      return await read(store);
    } finally {
      await store.close();
    }
  };
  return { dir, databaseUrl, backups, scratch, config, write, evidence };
}

describe('restore-drill daemon (real processes)', () => {
  const processes: CliProcess[] = [];
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((child) => child.kill()));
  });

  function daemon(config: string): CliProcess {
    const child = startDaemon(config);
    processes.push(child);
    return child;
  }

  it(
    'refuses a second daemon on the same embedded database, naming the one that holds it',
    async () => {
      const ws = await workspace();
      await makeDirectorySet(ws.backups, 'quick');
      await ws.write([{ name: 'quick' }]);
      const first = daemon(ws.config);
      await first.listenUrl();
      const second = daemon(ws.config);
      const { code } = await second.waitForExit();
      expect(code).toBe(1);
      expect(second.stderrText).toContain(
        `restore-drill: cannot open the evidence database: evidence database ${path.join(ws.dir, '.restore-drill', 'pgdata')} is in use by pid ${first.pid} on host ${hostname()}`,
      );
      expect(second.stderrText).toContain('embedded PGlite is single-process');
      // The first one is unharmed.
      const health = await fetch(`${await first.listenUrl()}/healthz`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { database: unknown }).database).toBe('pglite');
      first.signal('SIGTERM');
      expect(await first.waitForExit()).toEqual({ code: 0, signal: null });
    },
    SLOW_STORE_MS,
  );

  it('serves /healthz, keeps its config on a broken SIGHUP, reschedules on a good one, and drains on SIGTERM', async () => {
    const ws = await workspace('postgres');
    await makeDirectorySet(ws.backups, 'first');
    await makeDirectorySet(ws.backups, 'second', { preRestore: ['sleep', '2'] });
    await ws.write([{ name: 'first', schedule: EVERY_2S }, { name: 'second' }], {
      drainTimeout: '30s',
    });
    const proc = daemon(ws.config);
    const url = await proc.listenUrl();

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      status: 'ok',
      pid: proc.pid,
      configFile: ws.config,
      database: 'postgres',
      drillsScheduled: 1,
      schedules: [{ drill: 'first', schedule: EVERY_2S, next: expect.any(String) }],
      concurrency: 1,
      timezone: 'UTC',
      lastReload: null,
    });
    expect(body.uptimeSeconds).toEqual(expect.any(Number));
    expect(body.running).toEqual(expect.any(Array));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('# TYPE restore_drill_daemon_slots_total counter');

    await proc.waitForLog((line) => line.msg === 'drill finished' && line.drill === 'first');

    // A broken file: every problem logged on its own line, the old schedule kept.
    await writeFile(
      ws.config,
      `scratch: { root: scratch }\ndrills:\n  - name: first\n    schedule: "every day"\n    colour: blue\n    source: { kind: directory, path: backups/first/* }\n`,
    );
    const mark = proc.logs.length;
    proc.signal('SIGHUP');
    await proc.waitForLog(
      (line) =>
        line.msg === 'config reload refused; the daemon keeps running on the previous config',
      30_000,
      mark,
    );
    const problems = proc.logs
      .slice(mark)
      .filter((line) => line.level === 50 && line.msg.startsWith(`${ws.config}:`))
      .map((line) => line.msg);
    expect(problems).toEqual([
      `${ws.config}:4 drills[0].schedule: expected a cron expression like '0 3 * * *'`,
      `${ws.config}:5 drills[0]: unknown key 'colour'`,
    ]);
    const refused = (await (await fetch(`${url}/healthz`)).json()) as {
      lastReload: unknown;
      schedules: unknown;
    };
    expect(refused.lastReload).toMatchObject({ ok: false, problems });
    expect(refused.schedules).toEqual([
      { drill: 'first', schedule: EVERY_2S, next: expect.any(String) },
    ]);
    const afterRefusal = proc.logs.length;
    await proc.waitForLog(
      (line) => line.msg === 'drill finished' && line.drill === 'first',
      30_000,
      afterRefusal,
    );

    // A good file: the new schedule replaces the old one.
    await ws.write([{ name: 'first' }, { name: 'second', schedule: EVERY_2S }], {
      drainTimeout: '30s',
    });
    const goodMark = proc.logs.length;
    proc.signal('SIGHUP');
    await proc.waitForLog((line) => line.msg === 'config reloaded', 30_000, goodMark);
    const reloaded = (await (await fetch(`${url}/healthz`)).json()) as {
      lastReload: unknown;
      schedules: unknown;
    };
    expect(reloaded.lastReload).toMatchObject({ ok: true, problems: [], notApplied: [] });
    expect(reloaded.schedules).toEqual([
      { drill: 'second', schedule: EVERY_2S, next: expect.any(String) },
    ]);

    // SIGTERM while `second` restores: it finishes, its verdict is recorded, the process exits 0.
    await proc.waitForLog(
      (line) => line.msg === 'restoring' && line.drill === 'second',
      30_000,
      goodMark,
    );
    const runningHealth = (await (await fetch(`${url}/healthz`)).json()) as {
      running: Array<{ drill: string; runId: string }>;
    };
    expect(runningHealth.running).toEqual([
      expect.objectContaining({ drill: 'second', runId: expect.any(String) }),
    ]);
    const stoppingAt = Date.now();
    proc.signal('SIGTERM');
    expect(await proc.waitForExit()).toEqual({ code: 0, signal: null });
    const drained = proc.logs.find(
      (line) =>
        line.msg === 'drill finished' &&
        line.drill === 'second' &&
        line.runId === runningHealth.running[0]?.runId,
    );
    expect(drained).toMatchObject({ verdict: 'passed' });
    expect(proc.logs.some((line) => line.msg === 'daemon stopped')).toBe(true);

    await ws.evidence(async (store) => {
      const runs = await listRuns(store.db, {});
      expect(runs.find((run) => run.runId === runningHealth.running[0]?.runId)?.verdict).toBe(
        'passed',
      );
      // Nothing started after the SIGTERM.
      expect(runs.every((run) => Date.parse(run.startedAt) < stoppingAt)).toBe(true);
      expect(runs.filter((run) => run.drill === 'first').length).toBeGreaterThanOrEqual(2);
      expect(await findUnfinishedRuns(store.db)).toEqual([]);
    });
    expect(await readdir(ws.scratch)).toEqual([]);
  });

  it('after kill -9 mid-run, the next start records the run aborted and removes its scratch folder', async () => {
    const ws = await workspace();
    const pidFile = path.join(ws.dir, 'restore.pids');
    await makeDirectorySet(ws.backups, 'slow', {
      preRestore: ['sh', '-c', `echo $$ >> ${pidFile}; exec sleep 120`],
    });
    await ws.write([{ name: 'slow', schedule: EVERY_2S }]);
    const first = daemon(ws.config);
    const started = await first.waitForLog(
      (line) => line.msg === 'restoring' && line.drill === 'slow',
    );
    const scratchFolders = await readdir(ws.scratch);
    expect(scratchFolders).toHaveLength(1);
    first.signal('SIGKILL');
    expect((await first.waitForExit()).signal).toBe('SIGKILL');
    // The restore tool outlives a SIGKILLed parent (systemd's KillMode and Kubernetes kill it with the unit); here the test does.
    for (const pid of (await readFile(pidFile, 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number)) {
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }

    await ws.write([{ name: 'slow' }]);
    const second = daemon(ws.config);
    const recovered = await second.waitForLog(
      (line) =>
        line.runId === started.runId &&
        typeof line.msg === 'string' &&
        line.msg.includes('died before the run finished'),
    );
    expect(recovered).toMatchObject({ scratchRemoved: true, pid: first.pid });
    expect(await readdir(ws.scratch)).toEqual([]);
    second.signal('SIGTERM');
    expect((await second.waitForExit()).code).toBe(0);
    await ws.evidence(async (store) => {
      const [run] = await listRuns(store.db, { drill: ['slow'] });
      expect(run).toMatchObject({ runId: started.runId, verdict: 'aborted', trigger: 'schedule' });
      expect(run?.cause).toMatch(
        new RegExp(
          `^aborted: process ${first.pid} on ${hostname()} died before the run finished \\(recorded by process ${second.pid} on `,
        ),
      );
      expect(await findUnfinishedRuns(store.db)).toEqual([]);
    });
  });

  it('kills a hanging `command` restore with all its children at the drill timeout, records timed_out and leaves no scratch folder', async () => {
    const ws = await workspace('postgres');
    const pidFile = path.join(ws.dir, 'hang.pids');
    const marker = path.join(ws.dir, 'hung-once');
    // The real command source kind; the first restore hangs with a child and a grandchild, later ones pass.
    const script = `[ -e ${marker} ] && exit 0; touch ${marker}; echo $$ >> ${pidFile}; (sleep 300 & echo $! >> ${pidFile}; wait) & sleep 300 & echo $! >> ${pidFile}; wait`;
    await makeDirectorySet(ws.backups, 'hangs');
    await writeFile(
      ws.config,
      stringify({
        database: { url: ws.databaseUrl },
        scratch: { root: ws.scratch },
        daemon: { timezone: 'UTC' },
        drills: [
          {
            name: 'hangs',
            schedule: EVERY_2S,
            timeout: '2s',
            source: {
              kind: 'command',
              sets: { path: path.join(ws.backups, 'hangs', '*') },
              restore: ['sh', '-c', script],
            },
          },
        ],
      }),
    );
    const proc = daemon(ws.config);
    const finished = await proc.waitForLog(
      (line) => line.msg === 'drill finished' && line.drill === 'hangs',
      50_000,
    );
    expect(finished).toMatchObject({
      verdict: 'timed_out',
      cause: 'timeout: drill exceeded its timeout of 2000 ms',
    });
    const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    const deadline = Date.now() + 10_000;
    while (pids.some(pidAlive) && Date.now() < deadline) await sleep(100);
    expect(pids.filter(pidAlive)).toEqual([]);
    expect(
      (await readdir(ws.scratch)).filter((name) =>
        name.includes(String(finished.runId).slice(0, 8)),
      ),
    ).toEqual([]);
    proc.signal('SIGTERM');
    expect((await proc.waitForExit()).code).toBe(0);
    await ws.evidence(async (store) => {
      const runs = await listRuns(store.db, { drill: ['hangs'] });
      expect(runs.find((run) => run.runId === finished.runId)).toMatchObject({
        verdict: 'timed_out',
        sourceKind: 'command',
      });
      // Slots that came while it hung were skipped, naming it.
      for (const skip of await listSkips(store.db, { drill: ['hangs'] }))
        expect(skip).toMatchObject({ reason: 'overlap', blocking_run_id: finished.runId });
    });
    expect(await readdir(ws.scratch)).toEqual([]);
  });

  it('exits 2 on a config error or a dangerous scratch root, and 1 when it cannot listen', async () => {
    const ws = await workspace('postgres');
    await makeDirectorySet(ws.backups, 'quick');
    await writeFile(ws.config, 'drills: []\n');
    const broken = daemon(ws.config);
    expect((await broken.waitForExit()).code).toBe(2);
    expect(broken.stderrText).toContain(
      `restore-drill: ${ws.config}:1 drills: expected at least one drill`,
    );

    await writeFile(
      ws.config,
      configText({
        backupsDir: ws.backups,
        scratchRoot: path.join(ws.backups, 'quick'),
        drills: [{ name: 'quick' }],
        ...(ws.databaseUrl ? { databaseUrl: ws.databaseUrl } : {}),
      }),
    );
    const dangerous = daemon(ws.config);
    expect((await dangerous.waitForExit()).code).toBe(2);
    expect(dangerous.stderrText).toContain(
      `restore-drill: ${ws.config} scratch.root: scratch root ${path.join(ws.backups, 'quick')} is the same folder as the source path`,
    );

    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await ws.write([{ name: 'quick' }], { listen: { port } });
      const busy = daemon(ws.config);
      expect((await busy.waitForExit()).code).toBe(1);
      expect(busy.stderrText).toContain(
        `restore-drill: cannot start the daemon: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
