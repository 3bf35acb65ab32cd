import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { getRun, recordRunStart, type RunStart } from '../../src/evidence/runs.js';
import { writeSpoolEntry } from '../../src/evidence/spool.js';
import { silentLogger } from '../../src/log/logger.js';
import { recoverAbandonedRuns } from '../../src/schedule/recovery.js';
import { createScratchDir } from '../../src/scratch/scratch-dir.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { makeRecord } from '../helpers/run-records.js';
import { tempDir } from '../helpers/temp.js';
import { dialects, openTestStore, type TestStore } from '../helpers/test-store.js';

const config = {
  drills: [
    { name: 'nightly', source: { kind: 'tar', path: '/backups/*.tar' }, targets: { rto: 900_000 } },
  ],
} as unknown as Pick<Config, 'drills'>;

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe.each(dialects)('recovery of runs left by dead processes on %s', (dialect) => {
  let t: TestStore;
  let scratchRoot: string;
  let slots = 0;

  beforeAll(async () => {
    t = await openTestStore(dialect);
    scratchRoot = await tempDir('restore-drill-recovery-');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  /** A start row as a process that then died would have left it, with a real scratch folder holding a file. */
  async function abandonedRun(overrides: Partial<RunStart> = {}): Promise<RunStart> {
    const runId = randomUUID();
    const scratchDir = await createScratchDir(scratchRoot, overrides.drill ?? 'nightly', runId);
    await writeFile(path.join(scratchDir, 'half-restored.bin'), 'x'.repeat(1000));
    const start: RunStart = {
      runId,
      drill: 'nightly',
      trigger: 'schedule',
      scheduledFor: new Date(Date.UTC(2026, 2, 1, 3, 0, ++slots)),
      replayOf: null,
      startedAt: new Date(Date.now() - 60_000),
      host: 'crashed-host',
      pid: 31337,
      version: '0.1.0',
      configHash: 'ab'.repeat(32),
      scratchDir,
      ...overrides,
    };
    expect(await recordRunStart(t.store.db, start)).toBe(true);
    return start;
  }

  it('records an aborted result naming the dead process, and removes its scratch folder', async () => {
    const leases = t.leases();
    const dead = await abandonedRun();
    const recovered = await recoverAbandonedRuns({
      db: t.store.db,
      leases,
      config,
      log: silentLogger(),
    });
    expect(recovered).toEqual([
      {
        runId: dead.runId,
        drill: 'nightly',
        host: 'crashed-host',
        pid: 31337,
        scratchDir: dead.scratchDir,
        scratchRemoved: true,
      },
    ]);
    expect(await exists(dead.scratchDir as string)).toBe(false);
    const stored = await getRun(t.store.db, dead.runId);
    expect(stored?.record).toMatchObject({
      verdict: 'aborted',
      trigger: 'schedule',
      scheduledFor: dead.scheduledFor?.toISOString(),
      startedAt: dead.startedAt.toISOString(),
      sourceKind: 'tar',
      host: 'crashed-host',
      configHash: dead.configHash,
      scratchDir: dead.scratchDir,
      scratchKept: false,
      set: null,
      checks: [],
      targets: { rtoMs: 900_000, rpoMs: null },
    });
    expect(stored?.record.cause).toBe(
      `aborted: process 31337 on crashed-host died before the run finished (recorded by process ${process.pid} on ${hostname()})`,
    );
    // Nothing left to do on the next start.
    expect(
      await recoverAbandonedRuns({ db: t.store.db, leases, config, log: silentLogger() }),
    ).toEqual([]);
  });

  it('kills what the dead run left working in its scratch folder (an orphaned restore command) before removing it', async () => {
    const dead = await abandonedRun();
    // As a command source's restore outlives a CLI killed with -9: its own process group, cwd in scratch.
    const orphan = spawn('sh', ['-c', 'sleep 30; echo late > again.txt'], {
      cwd: dead.scratchDir as string,
      detached: true,
      stdio: 'ignore',
    });
    const exited = once(orphan, 'exit');
    const recovered = await recoverAbandonedRuns({
      db: t.store.db,
      leases: t.leases(),
      config,
      log: silentLogger(),
    });
    expect(recovered.map((run) => [run.runId, run.scratchRemoved])).toEqual([[dead.runId, true]]);
    expect(await exited).toEqual([null, 'SIGKILL']);
    expect(await exists(dead.scratchDir as string)).toBe(false);
  });

  it('leaves a run alone while its lease is held', async () => {
    const leases = t.leases();
    const running = await abandonedRun({ host: hostname(), pid: process.pid });
    const release = await leases.hold(running.runId);
    try {
      const recovered = await recoverAbandonedRuns({
        db: t.store.db,
        leases,
        config,
        log: silentLogger(),
      });
      expect(recovered.map((run) => run.runId)).not.toContain(running.runId);
      expect(await getRun(t.store.db, running.runId)).toBeUndefined();
      expect(await exists(running.scratchDir as string)).toBe(true);
    } finally {
      await release();
    }
  });

  it('takes a run of an earlier process with this very pid for dead (a restarted container is pid 1 again)', async () => {
    const leases = t.leases();
    const earlier = await abandonedRun({ host: hostname(), pid: process.pid });
    const recovered = await recoverAbandonedRuns({
      db: t.store.db,
      leases,
      config,
      log: silentLogger(),
    });
    expect(recovered.map((run) => run.runId)).toContain(earlier.runId);
  });

  it('never removes a recorded folder that is not named as that run’s, and names an unknown drill’s kind as unknown', async () => {
    const leases = t.leases();
    const elsewhere = path.join(await tempDir('restore-drill-precious-'), 'precious');
    await mkdir(elsewhere);
    const odd = await abandonedRun({ drill: 'removed-drill', scratchDir: elsewhere });
    const recovered = await recoverAbandonedRuns({
      db: t.store.db,
      leases,
      config,
      log: silentLogger(),
    });
    expect(recovered.find((run) => run.runId === odd.runId)).toMatchObject({
      scratchRemoved: false,
    });
    expect(await exists(elsewhere)).toBe(true);
    expect((await getRun(t.store.db, odd.runId))?.record).toMatchObject({
      verdict: 'aborted',
      sourceKind: 'unknown',
      targets: { rtoMs: null, rpoMs: null },
    });
  });

  it('closes each dead run once when two processes recover at the same time', async () => {
    const dead = await abandonedRun();
    const [a, b] = await Promise.all([
      recoverAbandonedRuns({ db: t.store.db, leases: t.leases(), config, log: silentLogger() }),
      recoverAbandonedRuns({ db: t.store.db, leases: t.leases(), config, log: silentLogger() }),
    ]);
    expect([...a, ...b].filter((run) => run.runId === dead.runId)).toHaveLength(1);
    expect((await getRun(t.store.db, dead.runId))?.record.verdict).toBe('aborted');
  });
  it('leaves open a run whose result waits in the spool: it finished, and its result is appended later', async () => {
    const waiting = await abandonedRun();
    const spool = path.join(await tempDir('restore-drill-recovery-spool-'), 'spool');
    await writeSpoolEntry(spool, {
      spooledAt: new Date().toISOString(),
      reason: 'evidence store unavailable: connect ECONNREFUSED',
      record: makeRecord({ runId: waiting.runId, drill: 'nightly' }),
      items: [],
    });
    const recovered = await recoverAbandonedRuns({
      db: t.store.db,
      leases: t.leases(),
      config,
      log: silentLogger(),
      spoolDir: spool,
    });
    expect(recovered.map((run) => run.runId)).not.toContain(waiting.runId);
    expect(await getRun(t.store.db, waiting.runId)).toBeUndefined();
    expect(await exists(waiting.scratchDir as string)).toBe(true);
  });

  it('closes nothing and says why when the spool cannot be read: a result may wait there', async () => {
    const dead = await abandonedRun();
    const lines: string[] = [];
    const log = pino(
      { level: 'warn' },
      new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }),
    );
    const notAFolder = path.join(await tempDir('restore-drill-recovery-spool-'), 'file');
    await writeFile(notAFolder, 'not a folder');
    const recovered = await recoverAbandonedRuns({
      db: t.store.db,
      leases: t.leases(),
      config,
      log,
      spoolDir: path.join(notAFolder, 'spool'),
    });
    expect(recovered).toEqual([]);
    expect(await getRun(t.store.db, dead.runId)).toBeUndefined();
    expect(await exists(dead.scratchDir as string)).toBe(true);
    expect(
      lines.map((line) => JSON.parse(line) as { msg: string; spool: string; err: string }),
    ).toMatchObject([
      {
        msg: 'cannot read the spool: runs left without a result stay open until it can be read',
        spool: path.join(notAFolder, 'spool'),
        err: expect.stringMatching(/ENOTDIR/),
      },
    ]);
    // Once the spool reads again, the dead run is closed.
    const later = await recoverAbandonedRuns({
      db: t.store.db,
      leases: t.leases(),
      config,
      log: silentLogger(),
    });
    expect(later.map((run) => run.runId)).toContain(dead.runId);
  });
});
