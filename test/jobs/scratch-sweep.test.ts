import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchSweepJob } from '../../jobs/scratch-sweep.js';
import { parseConfig } from '../../src/config/load.js';
import { getRun, recordRunStart } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { createScratchDir } from '../../src/scratch/scratch-dir.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe('the scratch sweep job', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('pglite');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  it('closes runs of dead processes, then removes old scratch folders that belong to no unfinished run', async () => {
    const base = await tempDir('restore-drill-sweep-job-');
    const yaml = `scratch: { root: scratch }\ndaemon: { scratchSweep: { schedule: "0 * * * *", olderThan: 2d } }\ndrills:\n  - name: files\n    source: { kind: directory, path: backups/* }\n`;
    const loaded = parseConfig(yaml, path.join(base, 'c.yaml'), {}, base);
    const root = path.join(base, 'scratch');
    const now = new Date('2026-03-10T00:00:00Z');
    const leases = t.leases();
    const start = async (runId: string, scratchDir: string, pid: number) =>
      recordRunStart(t.store.db, {
        runId,
        drill: 'files',
        trigger: 'manual',
        scheduledFor: null,
        replayOf: null,
        startedAt: new Date('2026-03-01T00:00:00Z'),
        host: 'h',
        pid,
        version: '0.1.0',
        configHash: 'ab'.repeat(32),
        scratchDir,
      });
    // A crash leftover whose run was recorded, an old folder of a live run, an old orphan, a young orphan.
    const deadId = randomUUID();
    const dead = await createScratchDir(root, 'files', deadId, {
      now: new Date('2026-03-01T00:00:00Z'),
    });
    await start(deadId, dead, 999);
    const liveId = randomUUID();
    const live = await createScratchDir(root, 'files', liveId, {
      now: new Date('2026-03-01T00:00:00Z'),
    });
    await start(liveId, live, process.pid);
    const release = await leases.hold(liveId);
    const orphan = await createScratchDir(root, 'files', randomUUID(), {
      now: new Date('2026-03-05T00:00:00Z'),
    });
    const young = await createScratchDir(root, 'files', randomUUID(), {
      now: new Date('2026-03-09T00:00:00Z'),
    });
    try {
      const result = await scratchSweepJob.run(
        { scheduledFor: now },
        { loaded, db: t.store.db, log: silentLogger(), leases },
      );
      expect(result.recovered.map((run) => run.runId)).toEqual([deadId]);
      expect(result.removed).toEqual([orphan]);
      expect(result.spared).toEqual([live]);
      expect((await getRun(t.store.db, deadId))?.record.verdict).toBe('aborted');
      expect(await exists(dead)).toBe(false);
      expect(await exists(live)).toBe(true);
      expect(await exists(young)).toBe(true);
    } finally {
      await release();
    }
    expect(scratchSweepJob.schedule(loaded.config)).toBe('0 * * * *');
  });

  it('refuses to sweep a dangerous scratch root', async () => {
    const base = await tempDir('restore-drill-sweep-job-');
    const yaml = `scratch: { root: backups/scratch }\ndrills:\n  - name: files\n    source: { kind: directory, path: backups/* }\n`;
    const loaded = parseConfig(yaml, path.join(base, 'c.yaml'), {}, base);
    await expect(
      scratchSweepJob.run(
        { scheduledFor: new Date() },
        { loaded, db: t.store.db, log: silentLogger(), leases: t.leases() },
      ),
    ).rejects.toThrow(/scratch root .*backups\/scratch is inside the source path/);
  });
});
