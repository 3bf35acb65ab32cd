import { randomUUID } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import { getRun, recordRunStart } from '../../src/evidence/runs.js';
import { silentLogger } from '../../src/log/logger.js';
import { createScratchDir } from '../../src/scratch/scratch-dir.js';
import { cli } from '../helpers/cli.js';
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
