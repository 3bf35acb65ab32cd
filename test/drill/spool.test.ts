import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import { runDrill, type RunDrillRequest } from '../../src/drill/run-drill.js';
import { verifyChain } from '../../src/evidence/chain.js';
import { openEvidenceStore, type EvidenceStore } from '../../src/evidence/open-store.js';
import { getRun, listRuns } from '../../src/evidence/runs.js';
import {
  listSpool,
  recordResultOrSpool,
  replaySpool,
  spoolEntrySchema,
} from '../../src/evidence/spool.js';
import { silentLogger } from '../../src/log/logger.js';
import { recoverAbandonedRuns } from '../../src/schedule/recovery.js';
import { createRunLeases } from '../../src/schedule/run-leases.js';
import { createSource } from '../../src/sources/registry.js';
import type { RestoreSource } from '../../src/sources/restore-source.js';
import type { SourceContext } from '../../src/sources/source-kind.js';
import { configText, makeDirectorySet } from '../helpers/drill-fixture.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import {
  createDatabaseOn,
  startPostgresServer,
  type PostgresServer,
} from '../helpers/postgres-server.js';
import { makeRecord } from '../helpers/run-records.js';
import { tempDir } from '../helpers/temp.js';

/**
 * The store stopped, started and made read-only at each point of a run, on a
 * PostgreSQL server of this file's own (never the shared one).
 */
describe('runDrill with an unavailable evidence store: wait, spool, replay', () => {
  let server: PostgresServer;
  let url: string;
  let store: EvidenceStore;
  let base: string;
  let backups: string;
  let scratch: string;
  let spool: string;

  beforeAll(async () => {
    server = await startPostgresServer();
    url = await createDatabaseOn(server, 'evidence');
    base = await tempDir('restore-drill-spool-');
    store = await openEvidenceStore({
      url,
      embeddedDir: path.join(base, 'unused'),
      log: silentLogger(),
    });
    backups = path.join(base, 'backups');
    scratch = path.join(base, 'scratch');
    spool = path.join(base, 'spool');
    for (const name of ['files', 'waits', 'not-run']) await makeDirectorySet(backups, name);
  }, SLOW_STORE_MS);
  afterAll(async () => {
    await store?.close();
    await server?.stop();
  }, SLOW_STORE_MS);

  function load(waitFor: string): LoadedConfig {
    const text = configText({
      backupsDir: backups,
      scratchRoot: scratch,
      drills: [{ name: 'files' }, { name: 'waits' }, { name: 'not-run' }],
      databaseUrl: url,
    });
    const withSpool = `${text}spool: { path: ${spool} }\n`.replace(
      `database:\n  url: ${url}\n`,
      `database:\n  url: ${url}\n  waitFor: ${waitFor}\n`,
    );
    return parseConfig(withSpool, path.join(base, 'restore-drill.yaml'), {}, base);
  }

  /** The registry's source, running `beforeRestore` as its restore begins. */
  function sourceWith(beforeRestore: () => Promise<void>) {
    return (config: Parameters<typeof createSource>[0], context: SourceContext): RestoreSource => {
      const inner = createSource(config, context);
      return {
        ...inner,
        listSets: (options) => inner.listSets(options),
        listItems: (set, options) => inner.listItems(set, options),
        restore: async (set, dir, options) => {
          await beforeRestore();
          return inner.restore(set, dir, options);
        },
      };
    };
  }

  function request(
    loaded: LoadedConfig,
    name: string,
    overrides: Partial<RunDrillRequest> = {},
  ): RunDrillRequest {
    const drill = loaded.config.drills.find((candidate) => candidate.name === name);
    if (!drill) throw new Error(`no drill ${name}`);
    return {
      drill,
      config: loaded.config,
      configDir: loaded.dir,
      db: store.db,
      log: silentLogger(),
      trigger: 'manual',
      ...overrides,
    };
  }

  async function setReadOnly(on: boolean): Promise<void> {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query('set default_transaction_read_only = off');
      await admin.query(
        on
          ? 'alter system set default_transaction_read_only = on'
          : 'alter system reset default_transaction_read_only',
      );
      await admin.query('select pg_reload_conf()');
    } finally {
      await admin.end();
    }
    // The store's pooled sessions read the reloaded setting before their next statement: wait until they do.
    const expected = on ? 'on' : 'off';
    for (let seen = 0; seen < 5;) {
      const { rows } = await sql<{
        default_transaction_read_only: string;
      }>`show default_transaction_read_only`.execute(store.db);
      seen = rows[0]?.default_transaction_read_only === expected ? seen + 1 : 0;
    }
  }

  async function spoolFiles(): Promise<string[]> {
    return (await readdir(spool).catch(() => [])).sort();
  }

  it('spools the result when the store stops during the restore, never closes the run as aborted, and replays it once in chain order', async () => {
    const loaded = load('2m');
    const first = await runDrill(request(loaded, 'files'));
    expect(first.status === 'finished' && first.recorded).toEqual({ in: 'store' });

    const result = await runDrill(
      request(loaded, 'files', { createSource: sourceWith(() => server.pause()) }),
    );
    if (result.status !== 'finished')
      throw new Error(`expected a finished run, got ${result.status}`);
    expect(result.record.verdict).toBe('passed');
    expect(result.recorded.in).toBe('spool');
    if (result.recorded.in !== 'spool') return;
    expect(result.recorded.reason).toMatch(/^evidence store unavailable: .*ECONNREFUSED/);
    expect(await spoolFiles()).toEqual([`${result.record.runId}.json`]);
    const entry = spoolEntrySchema.parse(JSON.parse(await readFile(result.recorded.file, 'utf8')));
    expect(entry.record).toEqual(result.record);
    expect(entry.items.map((item) => item.path).sort()).toEqual(['data/a.txt', 'data/b.txt']);

    await server.resume();
    // The run's process is gone (no lease), but its result waits in the spool: not aborted.
    const leases = createRunLeases({ dialect: 'postgres', url, log: silentLogger() });
    try {
      expect(
        await recoverAbandonedRuns({
          db: store.db,
          leases,
          config: loaded.config,
          log: silentLogger(),
          spoolDir: spool,
        }),
      ).toEqual([]);
    } finally {
      await leases.close();
    }

    const replayed = await replaySpool(store.db, spool, silentLogger());
    expect(replayed.replayed.map((run) => run.runId)).toEqual([result.record.runId]);
    expect(replayed.waiting).toBe(0);
    expect(await spoolFiles()).toEqual([]);
    const stored = await getRun(store.db, result.record.runId);
    expect(stored?.record).toEqual(result.record);
    const firstStored =
      first.status === 'finished' ? await getRun(store.db, first.record.runId) : undefined;
    expect(stored?.prevHash).toBe(firstStored?.recordHash);
    expect((await verifyChain(store.db)).intact).toBe(true);
    expect(await listRuns(store.db, { verdict: ['aborted'] })).toEqual([]);
    expect(await replaySpool(store.db, spool, silentLogger())).toEqual({
      replayed: [],
      alreadyStored: [],
      waiting: 0,
    });
  });

  it('spools the result when the store is read-only at the result insert', async () => {
    const loaded = load('2m');
    const result = await runDrill(
      request(loaded, 'files', { createSource: sourceWith(() => setReadOnly(true)) }),
    );
    if (result.status !== 'finished')
      throw new Error(`expected a finished run, got ${result.status}`);
    expect(result.record.verdict).toBe('passed');
    expect(result.recorded.in === 'spool' && result.recorded.reason).toMatch(
      /read-only transaction/,
    );
    expect((await listSpool(spool)).runs.map((run) => run.runId)).toEqual([result.record.runId]);

    await setReadOnly(false);
    const replayed = await replaySpool(store.db, spool, silentLogger());
    expect(replayed.replayed).toHaveLength(1);
    expect((await getRun(store.db, result.record.runId))?.record.verdict).toBe('passed');
    expect((await verifyChain(store.db)).intact).toBe(true);
  });

  it('waits for the store at the start of a run and runs once it is back', async () => {
    const loaded = load('2m');
    await server.pause();
    let resumed: Promise<void> | undefined;
    // Resumed when the run says it is waiting: the test awaits that event, not the clock.
    const watcher = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (
          resumed === undefined &&
          chunk.toString().includes('evidence store unavailable at the start')
        )
          resumed = server.resume();
        done();
      },
    });
    const result = await runDrill(
      request(loaded, 'waits', { log: pino({ level: 'warn' }, watcher) }),
    );
    await resumed;
    expect(resumed).toBeDefined();
    if (result.status !== 'finished')
      throw new Error(`expected a finished run, got ${result.status}`);
    expect(result.recorded).toEqual({ in: 'store' });
    expect((await getRun(store.db, result.record.runId))?.record.verdict).toBe('passed');
  });

  it('does not run a drill while the store stays unreachable past database.waitFor, and leaves nothing in scratch', async () => {
    const loaded = load('1s');
    await server.pause();
    try {
      const result = await runDrill(request(loaded, 'not-run'));
      expect(result.status).toBe('not-started');
      if (result.status !== 'not-started') return;
      expect(result.cause).toMatch(
        /^evidence store unavailable for 1\.00s at the start: .*ECONNREFUSED.*; the drill did not run$/,
      );
      expect(await readdir(path.join(scratch)).catch(() => [])).toEqual([]);
    } finally {
      await server.resume();
    }
    expect(await listRuns(store.db, { drill: ['not-run'] })).toEqual([]);
  });

  it('says the result was recorded nowhere when the spool cannot be written either, and keeps its items', async () => {
    await server.pause();
    try {
      const record = makeRecord();
      const items = [{ path: 'a.txt', size: 1, sha256: null }];
      const recorded = await recordResultOrSpool({
        db: store.db,
        record,
        items,
        spoolDir: '/dev/null/spool',
        log: silentLogger(),
        retry: { budgetMs: 0 },
      });
      expect(recorded.in).toBe('nowhere');
      if (recorded.in !== 'nowhere') return;
      expect(recorded.reason).toMatch(
        /^evidence store unavailable: .*ECONNREFUSED.*; cannot write the spool file \/dev\/null\/spool\/.*\.json: ENOTDIR/,
      );
      expect(recorded.items).toEqual(items);
    } finally {
      await server.resume();
    }
  });
});
