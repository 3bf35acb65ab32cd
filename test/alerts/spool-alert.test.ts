import { readdir, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spoolReplayJob } from '../../jobs/spool-replay.js';
import { createChannels } from '../../src/schedule/alerting.js';
import type { AlertMessage } from '../../src/alerts/message.js';
import { alertLongSpooledRuns } from '../../src/schedule/spool-alert.js';
import { parseConfig, type LoadedConfig } from '../../src/config/load.js';
import type { Database } from '../../src/evidence/database.js';
import { writeSpoolEntry } from '../../src/evidence/spool.js';
import { silentLogger } from '../../src/log/logger.js';
import { createRunLeases } from '../../src/schedule/run-leases.js';
import { HOUR, TestClock } from '../helpers/alert-fixtures.js';
import { makeRecord } from '../helpers/run-records.js';
import { tempDir } from '../helpers/temp.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const T0 = new Date('2026-12-01T03:00:00Z');
const REASON = 'evidence store unavailable: connect ECONNREFUSED 127.0.0.1:5432';

let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await WebhookReceiver.start();
});
afterAll(async () => {
  await receiver?.close();
});

/** A config whose spool is a fresh folder and whose one channel posts to `url`. */
async function setup(
  url: string,
  alertAfter = '1h',
): Promise<{ loaded: LoadedConfig; spool: string }> {
  const dir = await tempDir('restore-drill-spool-alert-');
  const loaded = parseConfig(
    `spool: { path: spool, alertAfter: ${alertAfter} }
drills:
  - name: nightly
    owner: infra-team
    source: { kind: tar, path: /backups/*.tar.gz }
alerts:
  channels:
    hook: { kind: webhook, url: "${url}" }
`,
    path.join(dir, 'restore-drill.yaml'),
    {},
    dir,
  );
  return { loaded, spool: path.join(dir, 'spool') };
}

async function spoolRun(spool: string, spooledAt: Date, verdict: 'passed' | 'failed' = 'failed') {
  const record = makeRecord({ drill: 'nightly', verdict });
  await writeSpoolEntry(spool, {
    spooledAt: spooledAt.toISOString(),
    reason: REASON,
    record,
    items: [],
  });
  return record;
}

function received(from: number): AlertMessage[] {
  return receiver.requests.slice(from).map((request) => request.body as AlertMessage);
}

describe('alerts about results waiting in the spool', () => {
  it('alerts once per run, through the webhook, when a result has waited longer than spool.alertAfter', async () => {
    const { loaded, spool } = await setup(receiver.url);
    const clock = new TestClock(T0);
    const record = await spoolRun(spool, T0);
    const options = {
      loaded,
      channels: createChannels(loaded.config.alerts, silentLogger()),
      log: silentLogger(),
      now: clock.now,
    };
    const before = receiver.requests.length;

    clock.advance(HOUR);
    expect(await alertLongSpooledRuns(options)).toEqual([]);

    // Two processes sharing the spool check at the same moment: one alert.
    clock.advance(60_000);
    const sent = (
      await Promise.all([alertLongSpooledRuns(options), alertLongSpooledRuns(options)])
    ).flat();
    expect(sent.map((alert) => [alert.runId, alert.channel, alert.result.ok])).toEqual([
      [record.runId, 'hook', true],
    ]);
    const [message] = received(before);
    expect(message).toMatchObject({
      kind: 'spooled',
      status: 'NOT RECORDED',
      severity: 'warning',
      drill: { name: 'nightly', owner: 'infra-team' },
      run: { runId: record.runId, verdict: 'failed' },
      since: T0.toISOString(),
    });
    expect(message?.title).toBe(
      'NOT RECORDED: restore drill nightly — its failed result has waited 1h1m in the spool',
    );
    expect(message?.summary).toContain(path.join(spool, `${record.runId}.json`));
    expect(message?.summary).toContain(REASON);

    // Every later check (the daemon's, every 30 s) sends nothing more.
    clock.advance(HOUR);
    expect(await alertLongSpooledRuns(options)).toEqual([]);
    expect(receiver.requests.length).toBe(before + 1);

    // Replayed: the run's claim goes with it.
    await rm(path.join(spool, `${record.runId}.json`));
    expect(await alertLongSpooledRuns(options)).toEqual([]);
    expect(await readdir(path.join(spool, 'alerted'))).toEqual([]);
  });

  it('retries a send that failed for a transient reason at the next check, and then stops', async () => {
    const flaky = await WebhookReceiver.start({ failFirst: 1 });
    try {
      const { loaded, spool } = await setup(flaky.url, '30m');
      const clock = new TestClock(T0);
      await spoolRun(spool, T0, 'passed');
      const options = {
        loaded,
        channels: createChannels(loaded.config.alerts, silentLogger()),
        log: silentLogger(),
        now: () => new Date(clock.now().getTime() + HOUR),
      };
      const first = await alertLongSpooledRuns(options);
      expect(first.map((alert) => alert.result)).toEqual([
        expect.objectContaining({
          ok: false,
          permanent: false,
          error: expect.stringContaining('503'),
        }),
      ]);
      const second = await alertLongSpooledRuns(options);
      expect(second.map((alert) => alert.result.ok)).toEqual([true]);
      expect(await alertLongSpooledRuns(options)).toEqual([]);
      expect(flaky.requests.map((request) => request.status)).toEqual([503, 200]);
    } finally {
      await flaky.close();
    }
  });

  it('sends nothing without an alerts block', async () => {
    const dir = await tempDir('restore-drill-spool-alert-');
    const loaded = parseConfig(
      'spool: { path: spool, alertAfter: 1m }\ndrills:\n  - name: nightly\n    source: { kind: tar, path: /b/*.tar }\n',
      path.join(dir, 'restore-drill.yaml'),
      {},
      dir,
    );
    await spoolRun(path.join(dir, 'spool'), T0);
    expect(
      await alertLongSpooledRuns({
        loaded,
        channels: createChannels(loaded.config.alerts, silentLogger()),
        log: silentLogger(),
      }),
    ).toEqual([]);
  });

  it("the daemon's spool job alerts while the evidence store is down (its replay fails)", async () => {
    const { loaded, spool } = await setup(receiver.url, '1s');
    const record = await spoolRun(spool, new Date(Date.now() - 60_000));
    // A real PostgreSQL client pointed at a port where nothing listens.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const url = `postgres://postgres@127.0.0.1:${port}/evidence`;
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) }),
    });
    const leases = createRunLeases({ dialect: 'postgres', url, log: silentLogger() });
    const before = receiver.requests.length;
    try {
      const result = await spoolReplayJob.run(
        { scheduledFor: new Date() },
        { loaded, db, log: silentLogger(), leases },
      );
      expect(result.replay).toMatchObject({ replayed: [], waiting: 1 });
      expect(result.alerts.map((alert) => [alert.runId, alert.result.ok])).toEqual([
        [record.runId, true],
      ]);
      expect(received(before).map((message) => message.run?.runId)).toEqual([record.runId]);
    } finally {
      await leases.close();
      await db.destroy();
    }
  });
});
