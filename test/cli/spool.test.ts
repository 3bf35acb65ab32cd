import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertMessage } from '../../src/alerts/message.js';
import { verifyChain } from '../../src/evidence/chain.js';
import type { Database } from '../../src/evidence/database.js';
import { migrateToLatest } from '../../src/evidence/migrations/index.js';
import { recordRunStart } from '../../src/evidence/runs.js';
import { writeSpoolEntry } from '../../src/evidence/spool.js';
import { cli } from '../helpers/cli.js';
import { makeDirectorySet } from '../helpers/drill-fixture.js';
import { SLOW_STORE_MS } from '../helpers/evidence-engines.js';
import {
  createDatabaseOn,
  startPostgresServer,
  type PostgresServer,
} from '../helpers/postgres-server.js';
import { makeItems, makeRecord, startOf, withItems } from '../helpers/run-records.js';
import { tempDir } from '../helpers/temp.js';
import { createTestDatabase } from '../helpers/test-database.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

interface JsonRun {
  runId: string;
  drill: string;
  verdict: string;
  recorded: boolean;
  spooled?: { file: string; reason: string };
  notRecorded?: {
    reason: string;
    unrecordedResult: { record: { runId: string; verdict: string }; items: { path: string }[] };
  };
}

function kysely(url: string): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
  });
}

/**
 * `run` with a PostgreSQL server of this file's own that a drill's restore
 * command stops (pg_ctl), as a database dying during a run would: the result
 * goes to the spool, or, when the spool cannot be written either, to stdout.
 */
describe('run while the evidence store stops during the restore', () => {
  let server: PostgresServer;
  let url: string;
  let base: string;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    server = await startPostgresServer();
    url = await createDatabaseOn(server, 'evidence');
    receiver = await WebhookReceiver.start();
    base = await tempDir('restore-drill-cli-spool-');
    await makeDirectorySet(path.join(base, 'backups'), 'nightly');
    // The restore command stops the server, then restores the set: the run ends with the store down.
    await writeFile(
      path.join(base, 'stop-then-copy.sh'),
      `${server.pauseArgv.map((arg) => `'${arg}'`).join(' ')} >/dev/null || exit 9\ncp -R "$1"/. "$2"/\n`,
    );
  }, SLOW_STORE_MS);
  afterAll(async () => {
    await receiver?.close();
    await server?.stop();
  }, SLOW_STORE_MS);

  async function writeConfig(name: string, spool: string): Promise<string> {
    const file = path.join(base, `${name}.yaml`);
    await writeFile(
      file,
      `database: { url: "${url}" }
scratch: { root: scratch-${name} }
spool: { path: "${spool}", alertAfter: 1ms }
drills:
  - name: nightly
    source:
      kind: command
      sets: { path: backups/nightly/* }
      restore: [sh, ${path.join(base, 'stop-then-copy.sh')}, "{set}", "{scratch}"]
    checks: { files: { min: 2 } }
alerts:
  channels:
    hook: { kind: webhook, url: "${receiver.url}" }
`,
    );
    return file;
  }

  it('prints the verdict, spools the result, alerts past spool.alertAfter, and the next command appends it once', async () => {
    const spool = path.join(base, 'spool');
    const config = await writeConfig('spooled', spool);
    const before = receiver.requests.length;
    const result = await cli(['run', '--config', config, '--json']);
    try {
      expect(result.exitCode, result.stderr).toBe(0);
      const [run] = (JSON.parse(result.stdout) as { runs: JsonRun[] }).runs;
      expect(run).toMatchObject({ drill: 'nightly', verdict: 'passed', recorded: true });
      expect(run?.spooled?.file).toBe(path.join(spool, `${run?.runId}.json`));
      expect(run?.spooled?.reason).toMatch(/^evidence store unavailable: .*ECONNREFUSED/);
      expect((await readdir(spool)).sort()).toEqual([`${run?.runId}.json`, 'alerted'].sort());
      // `run` itself alerts: with alertAfter 1ms, its own result has waited long enough.
      const alerts = receiver.requests.slice(before).map((request) => request.body as AlertMessage);
      expect(alerts.map((alert) => [alert.kind, alert.run?.runId])).toEqual([
        ['spooled', run?.runId],
      ]);

      await server.resume();
      const verify = await cli(['evidence', 'verify', '--config', config, '--json']);
      expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
      expect(await readdir(spool)).toEqual(['alerted']);
      const history = JSON.parse((await cli(['history', '--config', config, '--json'])).stdout) as {
        runs: JsonRun[];
        unfinished?: unknown[];
        spool?: unknown;
      };
      expect(history.runs.map((stored) => [stored.runId, stored.verdict])).toEqual([
        [run?.runId, 'passed'],
      ]);
      expect(history.unfinished).toBeUndefined();
      expect(history.spool).toBeUndefined();
    } finally {
      await server.resume().catch(() => {});
    }
  });

  it('exits 3 and prints the complete result as JSON when the spool cannot be written either', async () => {
    const config = await writeConfig('nowhere', '/dev/null/spool');
    const result = await cli(['run', '--config', config, '--json']);
    try {
      expect(result.exitCode, result.stderr).toBe(3);
      const loud = result.stderr
        .split('\n')
        .find((line) => line.includes('RESULT NOT RECORDED: neither the evidence store nor'));
      expect(loud, result.stderr).toBeDefined();
      // The run's logger names the run once: a JSON line with a key twice confuses log shippers.
      expect(loud!.match(/"runId":/g)).toHaveLength(1);
      expect(loud!.match(/"drill":/g)).toHaveLength(1);
      const [run] = (JSON.parse(result.stdout) as { runs: JsonRun[] }).runs;
      expect(run).toMatchObject({ drill: 'nightly', verdict: 'passed', recorded: false });
      expect(run?.notRecorded?.reason).toMatch(
        /^evidence store unavailable: .*ECONNREFUSED.*; cannot write the spool file \/dev\/null\/spool\/.*\.json: ENOTDIR/,
      );
      expect(run?.notRecorded?.unrecordedResult.record).toMatchObject({
        runId: run?.runId,
        verdict: 'passed',
      });
      expect(run?.notRecorded?.unrecordedResult.items.map((item) => item.path).sort()).toEqual([
        'data/a.txt',
        'data/b.txt',
      ]);
    } finally {
      await server.resume().catch(() => {});
    }
  });
});

describe('a spool that cannot be read', () => {
  it('history lists the runs and says so, and evidence verify calls the chain not verified', async () => {
    const url = await createTestDatabase();
    const base = await tempDir('restore-drill-cli-spool-unreadable-');
    await writeFile(path.join(base, 'file'), 'not a folder');
    const spool = path.join(base, 'file', 'spool');
    const config = path.join(base, 'restore-drill.yaml');
    await writeFile(
      config,
      `database: { url: "${url}" }\nspool: { path: "${spool}" }\ndrills:\n  - name: nightly-files\n    source: { kind: directory, path: /backups/* }\n`,
    );
    const history = await cli(['history', '--config', config]);
    expect(history.exitCode, history.stderr).toBe(0);
    expect(history.stdout).toMatch(
      new RegExp(
        `^cannot read the spool ${spool}: ENOTDIR.*results waiting there, if any, are not in the evidence store$`,
        'm',
      ),
    );
    const json = await cli(['history', '--config', config, '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as { spool: unknown }).spool).toMatchObject({
      path: spool,
      waiting: 0,
      unreadable: expect.stringMatching(/^ENOTDIR/),
    });
    const verify = await cli(['evidence', 'verify', '--config', config]);
    expect(verify.exitCode, verify.stderr).toBe(1);
    expect(verify.stdout).toMatch(/^NOT VERIFIED: cannot read the spool /m);
  });
});

describe('two processes replaying one spool at once', () => {
  it('append each result exactly once, in the order the runs finished, and the chain verifies', async () => {
    const url = await createTestDatabase();
    const base = await tempDir('restore-drill-cli-replay-');
    const spool = path.join(base, 'spool');
    const config = path.join(base, 'restore-drill.yaml');
    await writeFile(
      config,
      `database: { url: "${url}" }\nspool: { path: spool }\ndrills:\n  - name: nightly-files\n    source: { kind: directory, path: /backups/* }\n`,
    );
    const db = kysely(url);
    const runIds: string[] = [];
    try {
      await migrateToLatest(db);
      for (let i = 0; i < 40; i++) {
        const startedAt = new Date(Date.UTC(2026, 11, 1, 3, 0, i)).toISOString();
        const items = makeItems(3);
        const record = withItems(makeRecord({ startedAt }), items);
        await recordRunStart(db, startOf(record));
        await writeSpoolEntry(spool, {
          spooledAt: record.finishedAt,
          reason: 'evidence store unavailable: connect ECONNREFUSED',
          record,
          items,
        });
        runIds.push(record.runId);
      }
      const [first, second] = await Promise.all([
        cli(['history', '--config', config, '--json', '--limit', '100']),
        cli(['history', '--config', config, '--json', '--limit', '100']),
      ]);
      expect(first?.exitCode, first?.stderr).toBe(0);
      expect(second?.exitCode, second?.stderr).toBe(0);
      expect(await readdir(spool)).toEqual([]);
      const stored = await db
        .selectFrom('run_results')
        .select(['run_id', 'seq'])
        .orderBy('seq')
        .execute();
      expect(stored.map((row) => row.run_id)).toEqual(runIds);
      expect((await verifyChain(db)).intact).toBe(true);
    } finally {
      await db.destroy();
    }
    const verify = await cli(['evidence', 'verify', '--config', config]);
    expect(verify.exitCode, verify.stdout).toBe(0);
  });
});
