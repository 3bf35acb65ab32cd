import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrillJob } from '../../jobs/drill.js';
import { loadConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/schedule/daemon.js';
import { configText, makeDirectorySet } from '../helpers/drill-fixture.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import { hookedSource } from '../helpers/hook-source.js';
import { tempDir } from '../helpers/temp.js';
import { openTestStore, type TestStore } from '../helpers/test-store.js';

describe('Daemon (in process, real PostgreSQL)', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('postgres');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  it('reloads: refuses a dangerous scratch root, applies a good file, says which settings need a restart, and counts it all in /metrics', async () => {
    const dir = await tempDir('restore-drill-daemon-');
    const backups = path.join(dir, 'backups');
    await makeDirectorySet(backups, 'files');
    const file = path.join(dir, 'restore-drill.yaml');
    const write = (scratchRoot: string, daemon: Record<string, unknown>) =>
      writeFile(
        file,
        configText({
          backupsDir: backups,
          scratchRoot,
          drills: [{ name: 'files', schedule: '0 3 * * *' }],
          databaseUrl: t.url,
          daemon,
        }),
      );
    await write(path.join(dir, 'scratch'), { listen: { port: 0 }, timezone: 'Europe/Berlin' });
    const lines: Array<{ level: number; msg: string }> = [];
    const log = pino(
      { level: 'info' },
      new Writable({ write: (chunk, _e, done) => (lines.push(JSON.parse(String(chunk))), done()) }),
    );
    const daemon = await Daemon.start({
      loaded: await loadConfig(file),
      store: t.store,
      log,
      jobs: { drill: createDrillJob({ createSource: hookedSource }) },
    });
    try {
      expect(daemon.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(daemon.health().body).toMatchObject({
        status: 'ok',
        database: 'postgres',
        timezone: 'Europe/Berlin',
        drillsScheduled: 1,
      });

      await write(path.join(backups, 'files', 'scratch'), { listen: { port: 0 } });
      const refused = await daemon.reload();
      expect(refused.ok).toBe(false);
      expect(refused.problems).toEqual([
        `${file} scratch.root: scratch root ${path.join(backups, 'files', 'scratch')} is inside the source path ${path.join(backups, 'files')}; scratch must not overlap the backups it restores`,
      ]);
      expect(lines.filter((line) => line.level === 50).map((line) => line.msg)).toEqual([
        ...refused.problems,
        'config reload refused; the daemon keeps running on the previous config',
      ]);
      expect(daemon.health().body).toMatchObject({ timezone: 'Europe/Berlin' });

      await write(path.join(dir, 'scratch'), { listen: { port: 9 }, timezone: 'UTC' });
      const applied = await daemon.reload();
      expect(applied).toMatchObject({ ok: true, problems: [], notApplied: ['daemon.listen'] });
      expect(daemon.health().body).toMatchObject({ timezone: 'UTC', lastReload: applied });

      const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
      expect(metrics).toContain('restore_drill_daemon_reloads_total{result="invalid"} 1');
      expect(metrics).toContain('restore_drill_daemon_reloads_total{result="ok"} 1');
      expect(metrics).toContain('restore_drill_daemon_last_reload_success 1');
      // The drills' own metrics from the evidence (src/metrics) are served beside the daemon's.
      expect(metrics).toMatch(/^restore_drill_info\{drill="files"/m);
      expect(metrics).toMatch(/^restore_drill_evidence_up 1$/m);
    } finally {
      await daemon.stop('test over');
    }
    expect(daemon.health()).toMatchObject({ ok: false, body: { status: 'stopped' } });
    await expect(daemon.reload()).resolves.toMatchObject({
      ok: false,
      problems: ['the daemon is stopping'],
    });
  });
});

describe('Daemon on the embedded store', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('pglite');
  }, SLOW_STORE_MS);
  afterAll(() => t?.cleanup(), SLOW_STORE_MS);

  it('says a reload that moves database.path needs a restart, and keeps the store it opened', async () => {
    const dir = await tempDir('restore-drill-daemon-path-');
    const backups = path.join(dir, 'backups');
    await makeDirectorySet(backups, 'files');
    const file = path.join(dir, 'restore-drill.yaml');
    const write = (databasePath: string) =>
      writeFile(
        file,
        `${configText({
          backupsDir: backups,
          scratchRoot: path.join(dir, 'scratch'),
          drills: [{ name: 'files', schedule: '0 3 * * *' }],
        })}database: { path: ${databasePath} }\n`,
      );
    await write('evidence');
    const daemon = await Daemon.start({
      loaded: await loadConfig(file),
      store: t.store,
      log: pino({ level: 'silent' }),
      jobs: { drill: createDrillJob({ createSource: hookedSource }) },
    });
    try {
      await write('elsewhere');
      expect(await daemon.reload()).toMatchObject({ ok: true, notApplied: ['database.path'] });
      expect(daemon.health().body).toMatchObject({ status: 'ok', database: 'pglite' });
    } finally {
      await daemon.stop('test over');
    }
  });
});
