import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeStatisticsJob } from '../../jobs/store-statistics.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { appendBareRuns } from '../helpers/run-records.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

const DRILLS = 'drills:\n  - name: files\n    source: { kind: directory, path: backups/* }\n';

describe('the store statistics job', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('pglite');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  const statistics = async () =>
    (
      await sql<{ reltuples: number; visible: boolean; target: string }>`
        select reltuples, relpages > 0 and relallvisible = relpages as visible,
          current_setting('default_statistics_target') as target
        from pg_class where relname = 'run_results'`.execute(t.store.db)
    ).rows[0];

  it('refreshes the embedded store statistics hourly once runs piled up, as autovacuum would, and leaves the session setting as it was', async () => {
    const loaded = parseConfig(DRILLS, '/etc/restore-drill/c.yaml', {}, '/etc/restore-drill');
    expect(storeStatisticsJob.schedule(loaded.config)).toBe('41 * * * *');
    const run = () =>
      storeStatisticsJob.run(
        { scheduledFor: new Date() },
        { loaded, db: t.store.db, log: silentLogger(), leases: t.leases() },
      );

    await appendBareRuns(t.store.db, 'stats', 1, 900);
    expect(await run()).toEqual({ refreshed: false });
    expect(await statistics()).toMatchObject({ reltuples: -1, visible: false });

    await appendBareRuns(t.store.db, 'stats', 901, 1100);
    expect(await run()).toEqual({ refreshed: true });
    expect(await statistics()).toEqual({ reltuples: 1100, visible: true, target: '100' });
    // Nothing new since: nothing to do.
    expect(await run()).toEqual({ refreshed: false });
  });

  it('is not scheduled on a PostgreSQL server, whose autovacuum does it', () => {
    const loaded = parseConfig(
      `database: { url: "postgres://u@db/evidence" }\n${DRILLS}`,
      path.join('/etc/restore-drill', 'c.yaml'),
      {},
      '/etc/restore-drill',
    );
    expect(storeStatisticsJob.schedule(loaded.config)).toBeNull();
  });
});
