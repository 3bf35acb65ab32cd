import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { recordAlertEvent, recordAttempt } from '../../src/alerts/alert-log.js';
import { buildTestMessage } from '../../src/alerts/message.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { Database } from '../../src/evidence/database.js';
import { writeSpoolEntry } from '../../src/evidence/spool.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/serve.js';
import { silentLogger } from '../../src/log/logger.js';
import { DAY, HOUR, makeRun, openStore, recordRun, TestClock } from '../helpers/alert-fixtures.js';
import { pgliteEngine } from '../helpers/evidence-engines.js';
import { parseExposition, valueOf, type Exposition } from '../helpers/prometheus-text.js';
import { makeRecord } from '../helpers/run-records.js';
import { tempDir } from '../helpers/temp.js';

const T0 = new Date('2026-11-01T03:00:00Z');

const config: Config = parseConfig(
  `
drills:
  - name: nightly
    owner: infra-team
    maxAge: 2d
    source: { kind: tar, path: /backups/*.tar.gz }
  - name: weekly
    maxAge: 8d
    source: { kind: directory, path: /backups/weekly/* }
  - name: fresh
    source: { kind: directory, path: /backups/fresh/* }
alerts:
  channels:
    hook: { kind: webhook, url: "http://127.0.0.1:9/x" }
`,
  'drills.yaml',
).config;

let handle: Awaited<ReturnType<typeof openStore>>;
let server: MetricsServer;
const clock = new TestClock(new Date(T0.getTime() + 3 * DAY));
let scraped: Exposition;
let spoolDir: string;

/** A spool with a result that has waited two hours, a newer one, and a file that does not parse. */
async function makeSpool(): Promise<string> {
  const dir = path.join(await tempDir('restore-drill-metrics-spool-'), 'spool');
  for (const waitedMs of [2 * HOUR, 10 * 60_000])
    await writeSpoolEntry(dir, {
      spooledAt: new Date(clock.now().getTime() - waitedMs).toISOString(),
      reason: 'evidence store unavailable: connect ECONNREFUSED 127.0.0.1:5432',
      record: makeRecord({ drill: 'nightly' }),
      items: [],
    });
  await writeFile(path.join(dir, 'torn.json'), '{"format":');
  return dir;
}

beforeAll(async () => {
  handle = await openStore(pgliteEngine);
  const db = handle.store.db;
  await recordRun(
    db,
    makeRun({
      drill: 'nightly',
      verdict: 'passed',
      startedAt: T0,
      bytes: 5_000,
      files: 7,
      totalMs: 3_000,
    }),
  );
  await recordRun(
    db,
    makeRun({
      drill: 'nightly',
      verdict: 'failed',
      startedAt: new Date(T0.getTime() + DAY),
      bytes: 6_000_000_000,
      files: 9,
      totalMs: 8_000,
    }),
  );
  await recordRun(
    db,
    makeRun({
      drill: 'weekly',
      verdict: 'passed',
      startedAt: new Date(T0.getTime() + DAY + HOUR),
      totalMs: 2_000,
    }),
  );
  await recordRun(db, makeRun({ drill: 'retired', verdict: 'passed', startedAt: T0 }));
  const { event } = await recordAlertEvent(db, {
    dedupeKey: 'heartbeat:metrics-test',
    kind: 'heartbeat',
    drill: null,
    problemKey: null,
    runId: null,
    createdAt: clock.now(),
    channels: ['hook'],
    message: buildTestMessage({ channel: 'hook', now: clock.now() }),
  });
  for (const attempt of [1, 2]) {
    await recordAttempt(db, {
      eventId: event.id,
      channel: 'hook',
      attempt,
      startedAt: clock.now(),
      durationMs: 3,
      ok: false,
      permanent: false,
      detail: 'HTTP 503',
      retryAfterMs: null,
    });
  }
  spoolDir = await makeSpool();
  const metrics = createMetrics({
    db,
    config,
    now: clock.now,
    log: silentLogger(),
    spoolDir: () => spoolDir,
  });
  server = await startMetricsServer({ handler: metrics.handler });
  const response = await fetch(server.url);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
  scraped = parseExposition(await response.text());
});

afterAll(async () => {
  await server?.close();
  await handle?.cleanup();
});

describe('metrics endpoint', () => {
  it("serves each drill's last run: time, verdict, durations, bytes, files and failed checks", () => {
    const failedAt = (T0.getTime() + DAY + 8_000) / 1000;
    expect(valueOf(scraped, 'restore_drill_last_run_timestamp_seconds', { drill: 'nightly' })).toBe(
      failedAt,
    );
    expect(
      valueOf(scraped, 'restore_drill_last_run_verdict', { drill: 'nightly', verdict: 'failed' }),
    ).toBe(1);
    expect(
      valueOf(scraped, 'restore_drill_last_run_verdict', { drill: 'nightly', verdict: 'passed' }),
    ).toBe(0);
    expect(valueOf(scraped, 'restore_drill_last_run_passed', { drill: 'nightly' })).toBe(0);
    expect(valueOf(scraped, 'restore_drill_last_run_duration_seconds', { drill: 'nightly' })).toBe(
      8,
    );
    expect(
      valueOf(scraped, 'restore_drill_last_restore_duration_seconds', { drill: 'nightly' }),
    ).toBe(6);
    expect(valueOf(scraped, 'restore_drill_last_run_restored_bytes', { drill: 'nightly' })).toBe(
      6_000_000_000,
    );
    expect(valueOf(scraped, 'restore_drill_last_run_restored_files', { drill: 'nightly' })).toBe(9);
    expect(valueOf(scraped, 'restore_drill_last_run_checks_failed', { drill: 'nightly' })).toBe(1);
    expect(valueOf(scraped, 'restore_drill_last_run_passed', { drill: 'weekly' })).toBe(1);
  });

  it('serves the last success time and the stale flag measured against maxAge', () => {
    expect(
      valueOf(scraped, 'restore_drill_last_success_timestamp_seconds', { drill: 'nightly' }),
    ).toBe((T0.getTime() + 3_000) / 1000);
    expect(valueOf(scraped, 'restore_drill_max_age_seconds', { drill: 'nightly' })).toBe(
      2 * 86_400,
    );
    expect(valueOf(scraped, 'restore_drill_stale', { drill: 'nightly' })).toBe(1);
    expect(valueOf(scraped, 'restore_drill_stale', { drill: 'weekly' })).toBe(0);
    expect(valueOf(scraped, 'restore_drill_stale', { drill: 'fresh' })).toBeUndefined();
  });

  it('lists configured drills only, including those that never ran', () => {
    expect(valueOf(scraped, 'restore_drill_info', { drill: 'fresh', owner: '' })).toBe(1);
    expect(valueOf(scraped, 'restore_drill_info', { drill: 'nightly', owner: 'infra-team' })).toBe(
      1,
    );
    expect(
      valueOf(scraped, 'restore_drill_last_run_timestamp_seconds', { drill: 'fresh' }),
    ).toBeUndefined();
    expect(scraped.samples.some((sample) => sample.labels.drill === 'retired')).toBe(false);
  });

  it('serves the alert path: pending deliveries and attempts per channel', () => {
    expect(valueOf(scraped, 'restore_drill_alerts_pending', { channel: 'hook' })).toBe(1);
    expect(
      valueOf(scraped, 'restore_drill_alert_attempts_total', {
        channel: 'hook',
        outcome: 'failed',
      }),
    ).toBe(2);
    expect(
      valueOf(scraped, 'restore_drill_alert_attempts_total', { channel: 'hook', outcome: 'ok' }),
    ).toBe(0);
    expect(scraped.types.get('restore_drill_alert_attempts_total')).toBe('counter');
  });

  it('serves process metrics and says the evidence database answered', () => {
    expect(valueOf(scraped, 'restore_drill_evidence_up')).toBe(1);
    expect(valueOf(scraped, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(scraped, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(valueOf(scraped, 'restore_drill_build_info', { version: '0.1.0' })).toBe(1);
  });

  it("counts the results waiting in this host's spool and the age of the oldest", () => {
    expect(valueOf(scraped, 'restore_drill_spool_results')).toBe(3);
    expect(valueOf(scraped, 'restore_drill_spool_oldest_age_seconds')).toBe(2 * 3600);
  });

  it('documents every metric with HELP and TYPE', () => {
    const names = new Set(
      scraped.samples.map((sample) => sample.name.replace(/_(bucket|sum|count)$/, '')),
    );
    for (const name of names) {
      if (!name.startsWith('restore_drill_')) continue;
      expect(scraped.help.get(name), name).toBeTruthy();
      expect(scraped.types.get(name), name).toMatch(/^(gauge|counter)$/);
    }
  });

  it('answers 404 off /metrics and 405 to a POST', async () => {
    expect((await fetch(server.url.replace('/metrics', '/other'))).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
  });

  it('serves the same numbers to concurrent scrapes', async () => {
    const bodies = await Promise.all(
      [1, 2, 3].map(async () => parseExposition(await (await fetch(server.url)).text())),
    );
    for (const body of bodies) {
      expect(valueOf(body, 'restore_drill_last_run_checks_failed', { drill: 'nightly' })).toBe(1);
      expect(valueOf(body, 'restore_drill_info', { drill: 'weekly', owner: '' })).toBe(1);
    }
  });
});

describe('metrics without the database', () => {
  it('says the evidence database is down, serves no drill numbers rather than wrong ones, and still counts the spool', async () => {
    // A real PostgreSQL client pointed at a port where nothing listens.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ host: '127.0.0.1', port, connectionTimeoutMillis: 2_000 }),
      }),
    });
    try {
      const down = parseExposition(
        (
          await createMetrics({
            db,
            config,
            now: clock.now,
            processMetrics: false,
            spoolDir,
          }).render()
        ).body,
      );
      // The spool is read from the disk: it is what matters while the database is down.
      expect(valueOf(down, 'restore_drill_spool_results')).toBe(3);
      expect(valueOf(down, 'restore_drill_spool_oldest_age_seconds')).toBe(2 * 3600);
      expect(valueOf(down, 'restore_drill_evidence_up')).toBe(0);
      expect(
        down.samples.filter((sample) => sample.name.startsWith('restore_drill_last_')),
      ).toEqual([]);
      expect(valueOf(down, 'restore_drill_info', { drill: 'nightly', owner: 'infra-team' })).toBe(
        1,
      );
    } finally {
      await db.destroy();
    }
  });
});

describe('example alerting rules', () => {
  const rules = parseYaml(
    readFileSync(new URL('../../docs/alerting-rules.yaml', import.meta.url), 'utf8'),
  ) as {
    groups: {
      name: string;
      rules: {
        alert: string;
        expr: string;
        for?: string;
        labels: { severity: string };
        annotations: { summary: string };
      }[];
    }[];
  };

  it('is a Prometheus rule file: named groups of alerts with an expression, a severity and a summary', () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    const alerts = rules.groups.flatMap((group) => group.rules);
    expect(alerts.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'RestoreDrillFailing',
        'RestoreDrillStale',
        'RestoreDrillNoRecentRun',
        'RestoreDrillResultsSpooled',
      ]),
    );
    for (const rule of alerts) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(typeof rule.expr).toBe('string');
      expect(['critical', 'warning']).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smhdwy]$/);
    }
  });

  it('names only metrics the endpoint serves', () => {
    const served = new Set(scraped.samples.map((sample) => sample.name));
    const named = new Set(
      rules.groups.flatMap((group) =>
        group.rules.flatMap((rule) => rule.expr.match(/\brestore_drill_[a-z_]+/g) ?? []),
      ),
    );
    expect(named.size).toBeGreaterThan(5);
    for (const name of named) expect(served.has(name), `${name} is not served`).toBe(true);
  });
});
