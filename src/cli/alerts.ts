import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Kysely } from 'kysely';
import { Alerting, createChannels, testChannels } from '../alerts/alerting.js';
import { listAlertEvents, type DeliveryState } from '../alerts/alert-log.js';
import type { AttemptOutcome, DeliveryReport } from '../alerts/dispatcher.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { Database } from '../evidence/database.js';
import { openEvidenceStore } from '../evidence/open-store.js';
import { createLogger, type Logger } from '../log/logger.js';
import { CliError, ExitCode } from './exit-codes.js';

/** What an `alerts` subcommand works with, opened for one invocation. */
export interface AlertsSession {
  loaded: LoadedConfig;
  db: Kysely<Database>;
  log: Logger;
  close(): Promise<void>;
}

/** How the command reaches the world; program.ts may pass its own, tests pass theirs. */
export interface AlertsCommandContext {
  /** Loads the config and opens the evidence store (default: `loadConfig` and `openEvidenceStore` beside the config). */
  open?(configPath: string): Promise<AlertsSession>;
  /** Loads the config only (for `alerts test`, which needs no database). */
  loadConfig?(configPath: string): Promise<LoadedConfig>;
  stdout?(text: string): void;
  setExitCode?(code: number): void;
  logger?: Logger;
}

/** The default config path, as every command has it. */
export const DEFAULT_CONFIG_PATH = 'config/restore-drill.yaml';

/** How long `check-stale` and `deliver` keep retrying failed sends before leaving them to the next run. */
const DEFAULT_WAIT = '60s';

function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError("expected a duration like '30s' or '5m'");
  return ms;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

/**
 * `restore-drill alerts …`: test the channels, run the stale check once, retry
 * pending deliveries, send a heartbeat, list the alert log. Register it with
 * `program.addCommand(alertsCommand())`.
 */
export function alertsCommand(context: AlertsCommandContext = {}): Command {
  const out = context.stdout ?? ((text: string) => process.stdout.write(text));
  const setExitCode = context.setExitCode ?? ((code: number) => (process.exitCode = code));
  const log = context.logger ?? createLogger();
  const load = context.loadConfig ?? ((file: string) => loadConfig(file));
  const open =
    context.open ??
    (async (file: string): Promise<AlertsSession> => {
      const loaded = await load(file);
      const store = await openEvidenceStore({ url: loaded.config.database.url, embeddedDir: path.join(loaded.dir, '.restore-drill'), log });
      return { loaded, db: store.db, log, close: () => store.close() };
    });
  const configOf = (command: Command): string => command.optsWithGlobals<{ config?: string }>().config ?? DEFAULT_CONFIG_PATH;
  const configOption = () => new Option('-c, --config <path>', 'the config file').default(undefined, DEFAULT_CONFIG_PATH);

  const withAlerting = async <T>(command: Command, work: (alerting: Alerting, session: AlertsSession) => Promise<T>): Promise<T> => {
    const session = await open(configOf(command));
    try {
      const alerting = new Alerting({ loaded: session.loaded, db: session.db, log: session.log });
      requireAlerts(alerting, session.loaded.file);
      return await work(alerting, session);
    } finally {
      await session.close();
    }
  };

  const alerts = new Command('alerts').description('Alert channels, the stale check and the alert log.');

  alerts
    .command('test')
    .description('Send a test message through each channel (or those named) now, and say what each answered. Exit 1 if any failed.')
    .addOption(configOption())
    .option('--channel <name...>', 'only these channels')
    .option('--json', 'print one JSON document on stdout')
    .action(async (options: { channel?: string[]; json?: boolean }, command: Command) => {
      const loaded = await load(configOf(command));
      // A test needs no evidence database: it must work while the database is the thing that is down.
      if (!loaded.config.alerts) requireAlerts(undefined, loaded.file);
      const channels = createChannels(loaded.config.alerts, log);
      for (const name of options.channel ?? []) {
        if (!channels.has(name)) {
          throw new CliError(`--channel: '${name}' is not a channel; expected one of ${[...channels.keys()].map((n) => `'${n}'`).join(', ')}`, ExitCode.Usage);
        }
      }
      const results = await testChannels(channels, options.channel);
      const failed = results.filter((result) => !result.result.ok).length;
      if (options.json) {
        out(`${JSON.stringify({ channels: results.map((r) => ({ channel: r.channel, kind: r.kind, target: r.target, ...r.result })) }, null, 2)}\n`);
      } else {
        for (const { channel, kind, target, result } of results) {
          const said = result.ok ? result.detail : `${result.error}${result.permanent ? ' (permanent)' : ' (transient)'}`;
          out(`${(result.ok ? 'ok' : 'FAILED').padEnd(7)}${channel} (${kind}, ${target})  ${said}  [${formatDuration(result.durationMs)}]\n`);
        }
        out(failed === 0 ? `all ${results.length} channel(s) accepted the test message\n` : `${failed} of ${results.length} channel(s) failed\n`);
      }
      setExitCode(failed === 0 ? ExitCode.Ok : ExitCode.Failed);
    });

  alerts
    .command('check-stale')
    .description(
      'Check every drill now (stale, failing, recovered, reminders due), raise the alerts that calls for, and deliver them. Exit 1 if an alert could not be delivered.',
    )
    .addOption(configOption())
    .option('--wait <duration>', `keep retrying failed sends this long (the rest wait for the next run)`, durationArg, parseDuration(DEFAULT_WAIT))
    .option('--json', 'print one JSON document on stdout')
    .action(async (options: { wait: number; json?: boolean }, command: Command) => {
      await withAlerting(command, async (alerting) => {
        const { raised, errors } = await alerting.evaluateAll();
        const statuses = await alerting.drillStatuses();
        const report = await alerting.deliver({ waitMs: options.wait });
        if (options.json) {
          out(
            `${JSON.stringify(
              {
                drills: statuses,
                raised: raised.map((event) => ({ alert: event.dedupeKey, kind: event.kind, drill: event.drill, channels: event.channels, title: event.message.title })),
                delivery: deliveryJson(report),
                errors: errors.map((error) => ({ drill: error.drill, error: error.error instanceof Error ? error.error.message : String(error.error) })),
              },
              null,
              2,
            )}\n`,
          );
        } else {
          for (const status of statuses) out(`${status.state.toUpperCase().replace('-', ' ').padEnd(10)}${status.name}${status.lastPassAt ? `  last pass ${status.lastPassAt}` : ''}\n`);
          out(raised.length === 0 ? 'no new alerts\n' : raised.map((event) => `raised  ${event.message.title}  → ${event.channels.join(', ') || 'no channel'}\n`).join(''));
          out(deliveryText(report));
          for (const error of errors) out(`error   ${error.drill}: ${error.error instanceof Error ? error.error.message : String(error.error)}\n`);
        }
        setExitCode(errors.length > 0 || undelivered(report) ? ExitCode.Failed : ExitCode.Ok);
      });
    });

  alerts
    .command('deliver')
    .description('Send the alerts the log still holds undelivered (after an outage), retrying for a while. Exit 1 if some remain undelivered.')
    .addOption(configOption())
    .option('--wait <duration>', 'keep retrying failed sends this long', durationArg, parseDuration(DEFAULT_WAIT))
    .option('--json', 'print one JSON document on stdout')
    .action(async (options: { wait: number; json?: boolean }, command: Command) => {
      await withAlerting(command, async (alerting) => {
        const report = await alerting.deliver({ waitMs: options.wait });
        out(options.json ? `${JSON.stringify({ delivery: deliveryJson(report) }, null, 2)}\n` : deliveryText(report));
        setExitCode(undelivered(report) ? ExitCode.Failed : ExitCode.Ok);
      });
    });

  alerts
    .command('heartbeat')
    .description('Send the heartbeat summary of every drill now, to the heartbeat channels (or every channel).')
    .addOption(configOption())
    .option('--json', 'print one JSON document on stdout')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withAlerting(command, async (alerting) => {
        const slot = new Date(Math.floor(Date.now() / 60_000) * 60_000);
        const raised = await alerting.raiseHeartbeat(slot);
        const report = await alerting.deliver({ waitMs: parseDuration(DEFAULT_WAIT) });
        if (options.json) out(`${JSON.stringify({ heartbeat: raised?.event.message ?? null, delivery: deliveryJson(report) }, null, 2)}\n`);
        else out(`${raised?.event.message.title ?? 'no heartbeat'}\n${deliveryText(report)}`);
        setExitCode(undelivered(report) ? ExitCode.Failed : ExitCode.Ok);
      });
    });

  alerts
    .command('log')
    .description('List recent alerts, newest first, with each channel’s delivery: sent, pending (with the last error) or given up.')
    .addOption(configOption())
    .option('--drill <name...>', 'only alerts of these drills')
    .option('--limit <n>', 'at most this many alerts', positiveInt, 20)
    .option('--json', 'print one JSON document on stdout')
    .action(async (options: { drill?: string[]; limit: number; json?: boolean }, command: Command) => {
      await withAlerting(command, async (alerting, session) => {
        const entries = await listAlertEvents(session.db, { drill: options.drill, limit: options.limit });
        const attemptsMax = alerting.config?.retry.attempts ?? 1;
        if (options.json) {
          out(
            `${JSON.stringify(
              {
                alerts: entries.map(({ event, deliveries }) => ({
                  id: event.id,
                  alert: event.dedupeKey,
                  kind: event.kind,
                  drill: event.drill,
                  at: event.createdAt.toISOString(),
                  title: event.message.title,
                  deliveries: deliveries.map((delivery) => ({ ...deliveryStatus(delivery, attemptsMax), attempts: delivery.attempts, lastError: delivery.lastError })),
                })),
              },
              null,
              2,
            )}\n`,
          );
        } else if (entries.length === 0) {
          out('no alerts recorded\n');
        } else {
          for (const { event, deliveries } of entries) {
            out(`${event.createdAt.toISOString().replace('T', ' ').slice(0, 19)}  ${event.message.title}\n`);
            if (deliveries.length === 0) out('    (no channel: no route took it)\n');
            for (const delivery of deliveries) {
              const { channel, status } = deliveryStatus(delivery, attemptsMax);
              const error = delivery.lastError && status !== 'sent' ? `  ${delivery.lastError}` : '';
              out(`    ${status.padEnd(9)} ${channel}  (${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'})${error}\n`);
            }
          }
        }
        setExitCode(ExitCode.Ok);
      });
    });

  return alerts;
}

function requireAlerts(alerting: Alerting | undefined, file: string): void {
  if (!alerting?.enabled) throw new CliError(`${file}: no alerts configured; add an 'alerts:' block with channels (see docs/alerts.md)`, ExitCode.Usage);
}

function deliveryStatus(delivery: DeliveryState, attemptsMax: number): { channel: string; status: 'sent' | 'refused' | 'gave-up' | 'pending' } {
  const status = delivery.delivered ? 'sent' : delivery.refused ? 'refused' : delivery.attempts >= attemptsMax ? 'gave-up' : 'pending';
  return { channel: delivery.channel, status };
}

function undelivered(report: DeliveryReport | null): boolean {
  return report !== null && (report.pending > 0 || report.attempts.some((attempt) => attempt.final && !attempt.result.ok));
}

function attemptJson(attempt: AttemptOutcome) {
  return {
    alert: attempt.dedupeKey,
    channel: attempt.channel,
    attempt: attempt.attempt,
    ok: attempt.result.ok,
    final: attempt.final,
    ...(attempt.result.ok ? { detail: attempt.result.detail } : { error: attempt.result.error, permanent: attempt.result.permanent }),
  };
}

function deliveryJson(report: DeliveryReport | null) {
  if (!report) return null;
  return { attempts: report.attempts.map(attemptJson), pending: report.pending, nextDueAt: report.nextDueAt?.toISOString() ?? null, orphaned: report.orphaned };
}

function deliveryText(report: DeliveryReport | null): string {
  if (!report) return '';
  const lines = report.attempts.map((attempt) =>
    attempt.result.ok
      ? `sent    ${attempt.dedupeKey} → ${attempt.channel}  ${attempt.result.detail}\n`
      : `failed  ${attempt.dedupeKey} → ${attempt.channel} (attempt ${attempt.attempt}${attempt.final ? ', giving up' : ''})  ${attempt.result.error}\n`,
  );
  if (report.pending > 0) {
    lines.push(`${report.pending} delivery(ies) still pending${report.nextDueAt ? `, next try after ${report.nextDueAt.toISOString()}` : ''}; \`restore-drill alerts deliver\` or the daemon retries them\n`);
  }
  if (report.attempts.length === 0 && report.pending === 0) lines.push('nothing to deliver\n');
  return lines.join('');
}
