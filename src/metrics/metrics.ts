import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql, type Kysely } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { findUndelivered } from '../alerts/alert-log.js';
import type { Config } from '../config/schema.js';
import type { Database } from '../evidence/database.js';
import { listSpool } from '../evidence/spool.js';
import { runVerdictSchema } from '../evidence/run-record.js';
import type { Logger } from '../log/logger.js';
import { VERSION } from '../version.js';

export interface MetricsOptions {
  db: Kysely<Database>;
  /** The config, or a getter for it (the daemon reloads it on SIGHUP): its drills are the series. */
  config: Config | (() => Config);
  log?: Logger | undefined;
  /** The clock, for the stale flag (tests move it). */
  now?: () => Date;
  /** Node.js process metrics (CPU, memory, event loop lag, GC); default true. */
  processMetrics?: boolean;
  /** This host's spool folder, or a getter for it: its results waiting for the store are counted. */
  spoolDir?: string | (() => string) | undefined;
}

/** The metrics of one process: a registry of its own (never prom-client's global one). */
export interface Metrics {
  readonly registry: Registry;
  /** Reads the evidence database and renders the Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>;
  /** A node:http handler serving `render()` to GET and HEAD: mount it at /metrics. */
  handler(request: IncomingMessage, response: ServerResponse): void;
}

const VERDICTS = runVerdictSchema.options;

/** One row per configured drill: its newest run, newest pass and first run. */
interface DrillRow {
  drill: string;
  verdict: string | null;
  finished_at: Date | null;
  total_ms: number | null;
  restore_ms: number | null;
  bytes: string | null;
  files: number | null;
  checks_failed: number | null;
  pass_started_at: Date | null;
  pass_finished_at: Date | null;
  first_started_at: Date | null;
}

/**
 * Prometheus metrics computed from the evidence database on each scrape, so they
 * are the same whichever replica is scraped and survive restarts. Per drill:
 * the last run's time, verdict, durations, bytes, files and failed checks, the
 * last success, maxAge and the stale flag; the alert path's pending deliveries
 * and attempts; whether the database answered. A few indexed queries per
 * scrape, one per drill at most (lateral joins on `(drill, started_at)`).
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const getConfig =
    typeof options.config === 'function' ? options.config : () => options.config as Config;
  const now = options.now ?? (() => new Date());
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const gauge = (name: string, help: string, labelNames: string[] = ['drill']) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const info = gauge('restore_drill_info', 'Configured drills (always 1), with their owner.', [
    'drill',
    'owner',
  ]);
  const lastRun = gauge(
    'restore_drill_last_run_timestamp_seconds',
    'When the newest run of the drill finished (Unix time).',
  );
  const lastVerdict = gauge(
    'restore_drill_last_run_verdict',
    'Verdict of the newest run: 1 for its verdict, 0 for the others.',
    ['drill', 'verdict'],
  );
  const lastPassed = gauge(
    'restore_drill_last_run_passed',
    'Whether the newest run passed (1) or not (0).',
  );
  const duration = gauge(
    'restore_drill_last_run_duration_seconds',
    'Total duration of the newest run (restore, verification, clean-up).',
  );
  const restoreDuration = gauge(
    'restore_drill_last_restore_duration_seconds',
    'Duration of the restore phase of the newest run.',
  );
  const bytes = gauge('restore_drill_last_run_restored_bytes', 'Bytes restored by the newest run.');
  const files = gauge('restore_drill_last_run_restored_files', 'Files restored by the newest run.');
  const checksFailed = gauge(
    'restore_drill_last_run_checks_failed',
    'Checks that failed in the newest run.',
  );
  const lastSuccess = gauge(
    'restore_drill_last_success_timestamp_seconds',
    'When the newest passing run of the drill finished (Unix time).',
  );
  const maxAge = gauge(
    'restore_drill_max_age_seconds',
    "The drill's maxAge: it is stale without a pass within this long.",
  );
  const stale = gauge(
    'restore_drill_stale',
    'Whether the drill has no passing run within its maxAge (1) or has one (0); drills with maxAge only.',
  );
  const pending = gauge(
    'restore_drill_alerts_pending',
    'Alert deliveries not yet made and still being retried, per channel.',
    ['channel'],
  );
  const attempts = new Counter({
    name: 'restore_drill_alert_attempts_total',
    help: 'Attempts to deliver alerts, per channel and outcome (ok, failed), from the alert log.',
    labelNames: ['channel', 'outcome'],
    registers: [registry],
  });
  const up = new Gauge({
    name: 'restore_drill_evidence_up',
    help: 'Whether the evidence database answered this scrape (1) or not (0).',
    registers: [registry],
  });
  const spooled = new Gauge({
    name: 'restore_drill_spool_results',
    help: "Results waiting in this host's spool for the evidence store (unreadable spool files included).",
    registers: [registry],
  });
  const spoolOldest = new Gauge({
    name: 'restore_drill_spool_oldest_age_seconds',
    help: 'How long the oldest result in the spool has waited (0 when none waits).',
    registers: [registry],
  });
  const scrapeSeconds = new Gauge({
    name: 'restore_drill_metrics_query_seconds',
    help: 'Time spent querying the evidence database for this scrape.',
    registers: [registry],
  });
  new Gauge({
    name: 'restore_drill_build_info',
    help: 'restore-drill version (always 1).',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version: VERSION }, 1);
  // Series read from the database; `restore_drill_info` comes from the config alone.
  const fromDatabase = [
    lastRun,
    lastVerdict,
    lastPassed,
    duration,
    restoreDuration,
    bytes,
    files,
    checksFailed,
    lastSuccess,
    maxAge,
    stale,
    pending,
  ];

  async function refresh(): Promise<void> {
    const config = getConfig();
    const start = performance.now();
    for (const metric of [info, ...fromDatabase]) metric.reset();
    attempts.reset();
    for (const drill of config.drills) info.set({ drill: drill.name, owner: drill.owner ?? '' }, 1);
    try {
      const rows = await queryDrills(
        options.db,
        config.drills.map((drill) => drill.name),
      );
      const at = now().getTime();
      for (const drill of config.drills) {
        const row = rows.get(drill.name);
        const labels = { drill: drill.name };
        if (row?.verdict && row.finished_at) {
          lastRun.set(labels, seconds(row.finished_at));
          for (const verdict of VERDICTS)
            lastVerdict.set({ drill: drill.name, verdict }, verdict === row.verdict ? 1 : 0);
          lastPassed.set(labels, row.verdict === 'passed' ? 1 : 0);
          duration.set(labels, (row.total_ms ?? 0) / 1000);
          restoreDuration.set(labels, (row.restore_ms ?? 0) / 1000);
          bytes.set(labels, Number(row.bytes ?? 0));
          files.set(labels, row.files ?? 0);
          checksFailed.set(labels, row.checks_failed ?? 0);
        }
        if (row?.pass_finished_at) lastSuccess.set(labels, seconds(row.pass_finished_at));
        if (drill.maxAge !== undefined) {
          maxAge.set(labels, drill.maxAge / 1000);
          // As the alert state machine measures it: from the last pass, else from the first run.
          const reference = row?.pass_started_at ?? row?.first_started_at ?? null;
          stale.set(
            labels,
            reference !== null && at - new Date(reference).getTime() > drill.maxAge ? 1 : 0,
          );
        }
      }
      await alertMetrics(options.db, config, at, pending, attempts);
      up.set(1);
    } catch (error) {
      // Without the database, no drill series at all: stale numbers would look healthy.
      for (const metric of fromDatabase) metric.reset();
      attempts.reset();
      up.set(0);
      options.log?.warn({ err: error }, 'metrics: evidence database query failed');
    }
    // Read from the local disk, not the database: these matter most while the database is down.
    await spoolMetrics();
    scrapeSeconds.set((performance.now() - start) / 1000);
  }

  async function spoolMetrics(): Promise<void> {
    spooled.reset();
    spoolOldest.reset();
    const dir = typeof options.spoolDir === 'function' ? options.spoolDir() : options.spoolDir;
    if (dir === undefined) return;
    try {
      const { runs, unreadable } = await listSpool(dir);
      spooled.set(runs.length + unreadable.length);
      const oldest = Math.min(...runs.map((run) => Date.parse(run.spooledAt)));
      spoolOldest.set(runs.length > 0 ? Math.max(0, (now().getTime() - oldest) / 1000) : 0);
    } catch (error) {
      // Without a readable spool, no spool series: a 0 would look healthy.
      options.log?.warn({ err: error, spool: dir }, 'metrics: cannot read the spool');
    }
  }

  // Scrapes are serialised: a refresh must not reset gauges while another scrape renders them.
  let chain: Promise<unknown> = Promise.resolve();
  const render = (): Promise<{ contentType: string; body: string }> => {
    const next = chain.then(async () => {
      await refresh();
      return { contentType: registry.contentType, body: await registry.metrics() };
    });
    chain = next.catch(() => {});
    return next;
  };

  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('method not allowed\n');
      return;
    }
    render().then(
      ({ contentType, body }) => {
        response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        options.log?.error({ err: error }, 'metrics: rendering failed');
        response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  };

  return { registry, render, handler };
}

function seconds(date: Date | string): number {
  return new Date(date).getTime() / 1000;
}

async function queryDrills(
  db: Kysely<Database>,
  names: readonly string[],
): Promise<Map<string, DrillRow>> {
  if (names.length === 0) return new Map();
  const drills = sql.join(names.map((name) => sql`(${name})`));
  const result = await sql<DrillRow>`
    select d.drill, l.verdict, l.finished_at, l.total_ms, l.restore_ms, l.bytes, l.files, l.checks_failed,
           p.started_at as pass_started_at, p.finished_at as pass_finished_at, f.started_at as first_started_at
    from (values ${drills}) as d(drill)
    left join lateral (
      select verdict, finished_at, total_ms, restore_ms, bytes, files, checks_failed from run_results r
      where r.drill = d.drill order by r.started_at desc, r.seq desc limit 1) l on true
    left join lateral (
      select started_at, finished_at from run_results r
      where r.drill = d.drill and r.verdict = 'passed' order by r.started_at desc, r.seq desc limit 1) p on true
    left join lateral (
      select started_at from run_results r where r.drill = d.drill order by r.started_at asc limit 1) f on true
  `.execute(db);
  return new Map(result.rows.map((row) => [row.drill, row]));
}

async function alertMetrics(
  db: Kysely<Database>,
  config: Config,
  at: number,
  pending: Gauge<string>,
  attempts: Counter<string>,
): Promise<void> {
  const alerts = config.alerts;
  if (!alerts) return;
  for (const channel of Object.keys(alerts.channels)) pending.set({ channel }, 0);
  const undelivered = await findUndelivered(db, { since: new Date(at - alerts.retry.giveUpAfter) });
  for (const { delivery } of undelivered) {
    if (delivery.attempts < alerts.retry.attempts && alerts.channels[delivery.channel])
      pending.inc({ channel: delivery.channel });
  }
  const counts = await db
    .selectFrom('alert_attempts')
    .select(['channel', 'ok', (eb) => eb.fn.countAll<string>().as('count')])
    .groupBy(['channel', 'ok'])
    .execute();
  for (const channel of Object.keys(alerts.channels)) {
    attempts.inc({ channel, outcome: 'ok' }, 0);
    attempts.inc({ channel, outcome: 'failed' }, 0);
  }
  for (const row of counts)
    attempts.inc({ channel: row.channel, outcome: row.ok ? 'ok' : 'failed' }, Number(row.count));
}
