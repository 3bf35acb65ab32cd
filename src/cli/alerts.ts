import { Command, InvalidArgumentError } from 'commander';
import { Alerting, createChannels, testChannels } from '../schedule/alerting.js';
import { listAlertEvents, type DeliveryState } from '../alerts/alert-log.js';
import type { AttemptOutcome, DeliveryReport } from '../alerts/dispatcher.js';
import { formatDuration, parseDuration } from '../model/duration.js';
import type { LoadedConfig } from '../config/load.js';
import type { EvidenceDb } from '../evidence/database.js';
import type { Logger } from '../log/logger.js';
import {
  collectRepeatable,
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  withCommonOptions,
  type CliJobs,
  type CommonOptions,
} from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

/** Where the command's output and exit code go; tests pass their own. */
export interface AlertsIo {
  stdout(text: string): void;
  setExitCode(code: number): void;
}

const processIo: AlertsIo = {
  stdout: (text) => void process.stdout.write(text),
  setExitCode: (code) => void (process.exitCode = code),
};

/** How long `check-stale`, `deliver` and `heartbeat` keep retrying failed sends before leaving them to the next run. */
const DEFAULT_WAIT_MS = 60_000;

function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError("expected a duration like '30s' or '5m'");
  return ms;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

/** Aborts on SIGINT/SIGTERM while `work` runs: a delivery wait stops, what is left stays in the log. */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`received ${signal}`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await work(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * `restore-drill alerts …`: test the channels, run the stale check once, retry
 * pending deliveries, send a heartbeat, list the alert log.
 */
export function alertsCommand(
  jobs: Pick<CliJobs, 'staleCheck' | 'heartbeat'>,
  io: AlertsIo = processIo,
): Command {
  const out = io.stdout;

  /** Config, logger and an open store for one subcommand run; the store is closed after. */
  const withSession = async <T>(
    options: CommonOptions,
    work: (session: {
      loaded: LoadedConfig;
      db: EvidenceDb;
      log: Logger;
      alerting: Alerting;
    }) => Promise<T>,
  ) => {
    const loaded = await loadConfigOrExit(options);
    requireAlerts(loaded);
    const log = loggerFor(options);
    const store = await openStoreFor(loaded, log);
    try {
      return await work({
        loaded,
        db: store.db,
        log,
        alerting: new Alerting({ loaded, db: store.db, log }),
      });
    } finally {
      await store.close();
    }
  };

  const alerts = new Command('alerts').description(
    'Alert channels, the stale check and the alert log',
  );

  const test = new Command('test')
    .description(
      'Send a test message through each channel (or those named) now and say what each answered; exit 1 if any failed',
    )
    .option('--channel <name>', 'only this channel (repeatable)', collectRepeatable, []);
  withCommonOptions(test).action(async (options: CommonOptions & { channel: string[] }) => {
    // No evidence database: the test must work while the database is what is down.
    const loaded = await loadConfigOrExit(options);
    const alertsConfig = requireAlerts(loaded);
    const channels = createChannels(alertsConfig, loggerFor(options));
    for (const name of options.channel) {
      if (!channels.has(name)) {
        throw new CliError(
          `--channel: '${name}' is not a channel; expected one of ${[...channels.keys()].map((n) => `'${n}'`).join(', ')}`,
          ExitCode.Usage,
        );
      }
    }
    const results = await interruptible((signal) =>
      testChannels(channels, options.channel, { signal }),
    );
    const failed = results.filter((result) => !result.result.ok).length;
    if (options.json) {
      out(
        `${JSON.stringify({ channels: results.map((r) => ({ channel: r.channel, kind: r.kind, target: r.target, ...r.result })) }, null, 2)}\n`,
      );
    } else {
      for (const { channel, kind, target, result } of results) {
        const said = result.ok
          ? result.detail
          : `${result.error}${result.permanent ? ' (permanent)' : ' (transient)'}`;
        out(
          `${(result.ok ? 'ok' : 'FAILED').padEnd(7)}${channel} (${kind}, ${target})  ${said}  [${formatDuration(result.durationMs)}]\n`,
        );
      }
      out(
        failed === 0
          ? `all ${results.length} channel(s) accepted the test message\n`
          : `${failed} of ${results.length} channel(s) failed\n`,
      );
    }
    io.setExitCode(failed === 0 ? ExitCode.Ok : ExitCode.Failed);
  });

  const checkStale = new Command('check-stale')
    .description(
      'Check every drill now (stale, failing, recovered, reminders due), raise the alerts that calls for and deliver them; exit 1 if an alert could not be delivered',
    )
    .option(
      '--wait <duration>',
      'keep retrying failed sends this long; the rest waits for the next run',
      durationArg,
      DEFAULT_WAIT_MS,
    );
  withCommonOptions(checkStale).action(async (options: CommonOptions & { wait: number }) => {
    await withSession(options, async ({ loaded, db, log }) => {
      const result = await interruptible((signal) =>
        jobs.staleCheck.run({ waitMs: options.wait }, { loaded, db, log, signal }),
      );
      const errors = result.errors.map((error) => ({
        drill: error.drill,
        error: error.error instanceof Error ? error.error.message : String(error.error),
      }));
      if (options.json) {
        const raised = result.raised.map((event) => ({
          alert: event.dedupeKey,
          kind: event.kind,
          drill: event.drill,
          channels: event.channels,
          title: event.message.title,
        }));
        out(
          `${JSON.stringify({ drills: result.drills, raised, delivery: deliveryJson(result.delivery), errors }, null, 2)}\n`,
        );
      } else {
        for (const drill of result.drills) {
          out(
            `${drill.state.toUpperCase().replace('-', ' ').padEnd(10)}${drill.name}${drill.lastPassAt ? `  last pass ${drill.lastPassAt}` : ''}\n`,
          );
        }
        out(
          result.raised.length === 0
            ? 'no new alerts\n'
            : result.raised
                .map(
                  (event) =>
                    `raised  ${event.message.title}  → ${event.channels.join(', ') || 'no channel'}\n`,
                )
                .join(''),
        );
        out(deliveryText(result.delivery));
        for (const error of errors) out(`error   ${error.drill}: ${error.error}\n`);
      }
      io.setExitCode(
        errors.length > 0 || undelivered(result.delivery) ? ExitCode.Failed : ExitCode.Ok,
      );
    });
  });

  const deliver = new Command('deliver')
    .description(
      'Send what the alert log still holds undelivered (after an outage), retrying for a while; exit 1 if some remains undelivered',
    )
    .option(
      '--wait <duration>',
      'keep retrying failed sends this long',
      durationArg,
      DEFAULT_WAIT_MS,
    );
  withCommonOptions(deliver).action(async (options: CommonOptions & { wait: number }) => {
    await withSession(options, async ({ alerting }) => {
      const report = await interruptible((signal) =>
        alerting.deliver({ waitMs: options.wait, signal }),
      );
      out(
        options.json
          ? `${JSON.stringify({ delivery: deliveryJson(report) }, null, 2)}\n`
          : deliveryText(report),
      );
      io.setExitCode(undelivered(report) ? ExitCode.Failed : ExitCode.Ok);
    });
  });

  const heartbeat = new Command('heartbeat').description(
    'Send the heartbeat summary of every drill now, to the heartbeat channels (or every channel)',
  );
  withCommonOptions(heartbeat).action(async (options: CommonOptions) => {
    await withSession(options, async ({ loaded, db, log }) => {
      const slot = new Date(Math.floor(Date.now() / 60_000) * 60_000);
      const result = await interruptible((signal) =>
        jobs.heartbeat.run({ slot, waitMs: DEFAULT_WAIT_MS }, { loaded, db, log, signal }),
      );
      if (options.json)
        out(
          `${JSON.stringify({ heartbeat: result.heartbeat?.event.message ?? null, delivery: deliveryJson(result.delivery) }, null, 2)}\n`,
        );
      else
        out(
          `${result.heartbeat?.event.message.title ?? 'no heartbeat'}\n${deliveryText(result.delivery)}`,
        );
      io.setExitCode(undelivered(result.delivery) ? ExitCode.Failed : ExitCode.Ok);
    });
  });

  const logCommand = new Command('log')
    .description(
      "List recent alerts, newest first, with each channel's delivery: sent, pending (with the last error), refused or given up",
    )
    .option('-d, --drill <name>', 'only alerts of this drill (repeatable)', collectRepeatable, [])
    .option('--limit <n>', 'at most this many alerts', positiveInt, 20);
  withCommonOptions(logCommand).action(
    async (options: CommonOptions & { drill: string[]; limit: number }) => {
      await withSession(options, async ({ db, alerting }) => {
        const entries = await listAlertEvents(db, {
          drill: options.drill.length > 0 ? options.drill : undefined,
          limit: options.limit,
        });
        const attemptsMax = alerting.config?.retry.attempts ?? 1;
        if (options.json) {
          const list = entries.map(({ event, deliveries }) => ({
            id: event.id,
            alert: event.dedupeKey,
            kind: event.kind,
            drill: event.drill,
            at: event.createdAt.toISOString(),
            title: event.message.title,
            deliveries: deliveries.map((delivery) => ({
              ...deliveryStatus(delivery, attemptsMax),
              attempts: delivery.attempts,
              lastError: delivery.lastError,
            })),
          }));
          out(`${JSON.stringify({ alerts: list }, null, 2)}\n`);
        } else if (entries.length === 0) {
          out('no alerts recorded\n');
        } else {
          for (const { event, deliveries } of entries) {
            out(
              `${event.createdAt.toISOString().replace('T', ' ').slice(0, 19)}  ${event.message.title}\n`,
            );
            if (deliveries.length === 0) out('    (no channel: no route took it)\n');
            for (const delivery of deliveries) {
              const { channel, status } = deliveryStatus(delivery, attemptsMax);
              const error =
                delivery.lastError && status !== 'sent' ? `  ${delivery.lastError}` : '';
              out(
                `    ${status.padEnd(9)} ${channel}  (${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'})${error}\n`,
              );
            }
          }
        }
        io.setExitCode(ExitCode.Ok);
      });
    },
  );

  for (const command of [test, checkStale, deliver, heartbeat, logCommand])
    alerts.addCommand(command.exitOverride());
  return alerts.exitOverride();
}

function requireAlerts(loaded: LoadedConfig): NonNullable<LoadedConfig['config']['alerts']> {
  if (!loaded.config.alerts)
    throw new CliError(
      `${loaded.file}: no alerts configured; add an 'alerts:' block with channels (see docs/alerts.md)`,
      ExitCode.Usage,
      'config',
    );
  return loaded.config.alerts;
}

function deliveryStatus(
  delivery: DeliveryState,
  attemptsMax: number,
): { channel: string; status: 'sent' | 'refused' | 'gave-up' | 'pending' } {
  const status = delivery.delivered
    ? 'sent'
    : delivery.refused
      ? 'refused'
      : delivery.attempts >= attemptsMax
        ? 'gave-up'
        : 'pending';
  return { channel: delivery.channel, status };
}

function undelivered(report: DeliveryReport | null): boolean {
  return (
    report !== null &&
    (report.pending > 0 || report.attempts.some((attempt) => attempt.final && !attempt.result.ok))
  );
}

function attemptJson(attempt: AttemptOutcome) {
  return {
    alert: attempt.dedupeKey,
    channel: attempt.channel,
    attempt: attempt.attempt,
    ok: attempt.result.ok,
    final: attempt.final,
    ...(attempt.result.ok
      ? { detail: attempt.result.detail }
      : { error: attempt.result.error, permanent: attempt.result.permanent }),
  };
}

function deliveryJson(report: DeliveryReport | null) {
  if (!report) return null;
  return {
    attempts: report.attempts.map(attemptJson),
    pending: report.pending,
    nextDueAt: report.nextDueAt?.toISOString() ?? null,
    orphaned: report.orphaned,
  };
}

function deliveryText(report: DeliveryReport | null): string {
  if (!report) return '';
  const lines = report.attempts.map((attempt) =>
    attempt.result.ok
      ? `sent    ${attempt.dedupeKey} → ${attempt.channel}  ${attempt.result.detail}\n`
      : `failed  ${attempt.dedupeKey} → ${attempt.channel} (attempt ${attempt.attempt}${attempt.final ? ', giving up' : ''})  ${attempt.result.error}\n`,
  );
  if (report.pending > 0) {
    lines.push(
      `${report.pending} delivery(ies) still pending${report.nextDueAt ? `, next try after ${report.nextDueAt.toISOString()}` : ''}; \`restore-drill alerts deliver\` or the daemon retries them\n`,
    );
  }
  if (report.attempts.length === 0 && report.pending === 0) lines.push('nothing to deliver\n');
  return lines.join('');
}
