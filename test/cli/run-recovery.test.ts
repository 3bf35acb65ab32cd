import { randomUUID } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import { getRun, recordRunStart } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { createScratchDir } from '../../src/scratch/scratch-dir.js';
import { processIdentityOf } from '../../src/exec/process-identity.js';
import { cli } from '../helpers/cli.js';
import { makeZombie, startSleeper } from '../helpers/processes.js';
import { configText, makeDirectorySet } from '../helpers/drill-fixture.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';

describe('restore-drill run and validate: crash recovery and the scratch guard', () => {
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

  it('closes the runs a dead process left, as aborted with their scratch folders removed, before running', async () => {
    const dir = await tempDir('restore-drill-run-recovery-');
    const backups = path.join(dir, 'backups');
    const scratch = path.join(dir, 'scratch');
    await makeDirectorySet(backups, 'files');
    const config = path.join(dir, 'restore-drill.yaml');
    await writeFile(
      config,
      configText({
        backupsDir: backups,
        scratchRoot: scratch,
        drills: [{ name: 'files' }],
        databaseUrl: url,
      }),
    );
    const runId = randomUUID();
    const leftover = await createScratchDir(scratch, 'files', runId);
    await recordRunStart(store.db, {
      runId,
      drill: 'files',
      trigger: 'manual',
      scheduledFor: null,
      replayOf: null,
      startedAt: new Date(Date.now() - 3_600_000),
      host: 'crashed-host',
      pid: 4242,
      version: '0.1.0',
      configHash: 'ab'.repeat(32),
      scratchDir: leftover,
    });
    const result = await cli(['run', '--config', config, '--json']);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('process 4242 on crashed-host died before the run finished');
    expect((await getRun(store.db, runId))?.record).toMatchObject({
      verdict: 'aborted',
      host: 'crashed-host',
    });
    expect(await readdir(scratch)).toEqual([]);
  });

  it('closes a run whose process on this host is a zombie or a reused pid, and leaves a live one be', async () => {
    const dir = await tempDir('restore-drill-run-liveness-');
    const backups = path.join(dir, 'backups');
    await makeDirectorySet(backups, 'files');
    const config = path.join(dir, 'restore-drill.yaml');
    await writeFile(
      config,
      configText({
        backupsDir: backups,
        scratchRoot: path.join(dir, 'scratch'),
        drills: [{ name: 'files' }],
        databaseUrl: url,
      }),
    );
    const zombie = await makeZombie();
    const sleeper = startSleeper();
    const identity = processIdentityOf(sleeper.pid);
    if (!identity) throw new Error('no /proc entry for the sleeper');
    const start = (pid: number, processStart: number | null, drill: string) => ({
      runId: randomUUID(),
      drill,
      trigger: 'manual' as const,
      scheduledFor: null,
      replayOf: null,
      startedAt: new Date(Date.now() - 60_000),
      host: hostname(),
      pid,
      processStart,
      bootId: identity.bootId,
      version: '0.1.0',
      configHash: 'cd'.repeat(32),
      scratchDir: null,
    });
    // A daemon SIGKILLed under a PID 1 that never reaps; a pid since taken by another program; a live run.
    const zombieRun = start(zombie, null, 'files');
    const reusedRun = start(sleeper.pid, (identity.processStart ?? 0) + 7, 'files');
    const liveRun = start(sleeper.pid, identity.processStart, 'elsewhere');
    for (const run of [zombieRun, reusedRun, liveRun]) await recordRunStart(store.db, run);
    const result = await cli(['run', '--config', config, '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      `process ${zombie} on ${hostname()} died before the run finished`,
    );
    for (const run of [zombieRun, reusedRun])
      expect((await getRun(store.db, run.runId))?.record.verdict).toBe('aborted');
    expect(await getRun(store.db, liveRun.runId)).toBeUndefined();
  });

  /** A config of one directory drill, 'files', on this file's database, in a new folder. */
  async function filesConfig(prefix: string): Promise<{ dir: string; config: string }> {
    const dir = await tempDir(prefix);
    const config = path.join(dir, 'restore-drill.yaml');
    await writeFile(
      config,
      configText({
        backupsDir: path.join(dir, 'backups'),
        scratchRoot: path.join(dir, 'scratch'),
        drills: [{ name: 'files' }],
        databaseUrl: url,
      }),
    );
    return { dir, config };
  }

  it('history shows unfinished runs: running while their process lives, abandoned once it is gone', async () => {
    const { config } = await filesConfig('restore-drill-history-unfinished-');
    const zombie = await makeZombie();
    const sleeper = startSleeper();
    try {
      const identity = processIdentityOf(sleeper.pid);
      if (!identity) throw new Error('no /proc entry for the sleeper');
      const drill = `unfinished-${randomUUID().slice(0, 8)}`;
      const start = (pid: number, processStart: number | null, host = hostname()) => ({
        runId: randomUUID(),
        drill,
        trigger: 'manual' as const,
        scheduledFor: null,
        replayOf: null,
        startedAt: new Date(Date.now() - 60_000),
        host,
        pid,
        processStart,
        bootId: identity.bootId,
        version: '0.1.0',
        configHash: 'ef'.repeat(32),
        scratchDir: null,
      });
      const live = start(sleeper.pid, identity.processStart);
      const dead = start(zombie, null);
      const elsewhere = start(4242, null, 'another-host');
      for (const run of [live, dead, elsewhere]) await recordRunStart(store.db, run);

      const human = await cli(['history', '--config', config, '--drill', drill]);
      expect(human.exitCode, human.stderr).toBe(0);
      const lineOf = (runId: string) =>
        human.stdout.split('\n').find((line) => line.includes(runId.slice(0, 8))) ?? '';
      expect(lineOf(live.runId)).toMatch(
        new RegExp(`RUNNING +${drill} +process ${sleeper.pid} on this host$`),
      );
      expect(lineOf(dead.runId)).toMatch(
        new RegExp(
          `ABANDON +${drill} +process ${zombie} on this host is gone; the next run or daemon start records it aborted$`,
        ),
      );
      expect(lineOf(elsewhere.runId)).toContain(
        'process 4242 on another-host; not judged from here',
      );
      expect(human.stdout).not.toContain('no runs recorded');

      const json = await cli(['history', '--config', config, '--drill', drill, '--json']);
      const parsed = JSON.parse(json.stdout) as {
        runs: unknown[];
        unfinished: { runId: string; state: string; pid: number; host: string }[];
      };
      expect(parsed.runs).toEqual([]);
      expect(Object.fromEntries(parsed.unfinished.map((run) => [run.runId, run.state]))).toEqual({
        [live.runId]: 'running',
        [dead.runId]: 'abandoned',
        [elsewhere.runId]: 'elsewhere',
      });
      // A verdict filter asks for finished runs only.
      const failedOnly = await cli([
        'history',
        '--config',
        config,
        '--drill',
        drill,
        '--verdict',
        'failed',
      ]);
      expect(failedOnly.stdout.trim()).toBe('no runs recorded');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('show of an unfinished run says running or abandoned, since when, and by which host and pid', async () => {
    const { dir, config } = await filesConfig('restore-drill-show-unfinished-');
    const zombie = await makeZombie();
    const sleeper = startSleeper();
    try {
      const identity = processIdentityOf(sleeper.pid);
      if (!identity) throw new Error('no /proc entry for the sleeper');
      const startedAt = new Date(Date.now() - 90_000);
      const start = (pid: number, processStart: number | null) => ({
        runId: randomUUID(),
        drill: 'files',
        trigger: 'manual' as const,
        scheduledFor: null,
        replayOf: null,
        startedAt,
        host: hostname(),
        pid,
        processStart,
        bootId: identity.bootId,
        version: '0.1.0',
        configHash: 'ef'.repeat(32),
        scratchDir: path.join(dir, 'scratch', 'files-1'),
      });
      const live = start(sleeper.pid, identity.processStart);
      // The sleeper's pid with another start time: a reused pid is not the run's process.
      const reused = start(sleeper.pid, (identity.processStart ?? 0) + 1);
      const dead = start(zombie, null);
      for (const run of [live, reused, dead]) await recordRunStart(store.db, run);

      const running = await cli(['show', live.runId.slice(0, 13), '--config', config]);
      expect(running.exitCode, running.stderr).toBe(0);
      expect(running.stdout).toContain(
        `RUNNING  files: run ${live.runId} is still running: no result yet`,
      );
      expect(running.stdout).toContain(`started:    ${startedAt.toISOString()}`);
      expect(running.stdout).toContain(`process:    process ${sleeper.pid} on this host`);
      expect(running.stdout).toContain(`host:       ${hostname()}`);

      for (const run of [reused, dead]) {
        const shown = await cli(['show', run.runId, '--config', config]);
        expect(shown.exitCode, shown.stderr).toBe(0);
        expect(shown.stdout).toContain(
          `ABANDON  files: run ${run.runId} was abandoned: its process is gone and no result was recorded`,
        );
        expect(shown.stdout).toContain(`process ${run.pid} on this host is gone`);
      }

      const json = await cli(['show', dead.runId, '--config', config, '--json']);
      expect(JSON.parse(json.stdout)).toEqual({
        runId: dead.runId,
        drill: 'files',
        state: 'abandoned',
        finished: false,
        verdict: null,
        startedAt: startedAt.toISOString(),
        trigger: 'manual',
        host: hostname(),
        pid: zombie,
        scratchDir: dead.scratchDir,
      });

      // A run id nobody started is still an error.
      const unknown = await cli(['show', randomUUID(), '--config', config]);
      expect(unknown.exitCode).toBe(2);
      expect(unknown.stderr).toContain('in the evidence database');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('refuses a scratch root that overlaps a source before running or validating (exit 2)', async () => {
    const dir = await tempDir('restore-drill-run-guard-');
    const backups = path.join(dir, 'backups');
    await makeDirectorySet(backups, 'files');
    const config = path.join(dir, 'restore-drill.yaml');
    const scratch = path.join(backups, 'files', 'scratch');
    await writeFile(
      config,
      configText({
        backupsDir: backups,
        scratchRoot: scratch,
        drills: [{ name: 'files' }],
        databaseUrl: url,
      }),
    );
    for (const verb of ['run', 'validate']) {
      const result = await cli([verb, '--config', config]);
      expect(result.exitCode, verb).toBe(2);
      expect(result.stderr.trim()).toBe(
        `restore-drill: ${config} scratch.root: scratch root ${scratch} is inside the source path ${path.join(backups, 'files')}; scratch must not overlap the backups it restores`,
      );
    }
    // Reading evidence does not depend on where restores would land.
    expect((await cli(['history', '--config', config])).exitCode).toBe(0);
  });
});
