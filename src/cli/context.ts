import path from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { reasonOf } from '../evidence/errors.js';
import { embeddedDirFor } from '../evidence/embedded-dir.js';
import type { EvidenceStore } from '../evidence/open-store.js';
import { createLogger, type Logger } from '../log/logger.js';
import { guardConfigScratchRoot } from '../drill/scratch-guard.js';
import { ScratchError } from '../scratch/scratch-dir.js';
import type { Job, PeriodicJob } from '../schedule/job.js';
import type { DrillJobPayload, RunDrillResult } from '../drill/run-drill.js';
import type {
  HeartbeatPayload,
  HeartbeatResult,
  StaleCheckPayload,
  StaleCheckResult,
} from '../schedule/alerting.js';
import { CliError, ExitCode } from './exit-codes.js';
import { expandHome } from '../model/local-path.js';

/** The default config path, relative to the working directory. */
export const DEFAULT_CONFIG = 'config/restore-drill.yaml';

/** Options every command accepts. */
export interface CommonOptions {
  config: string;
  json?: boolean;
  logLevel?: string;
  logFormat?: 'json' | 'pretty' | 'auto';
}

/** The jobs the CLI hands out; the entry point supplies them (src/ never imports jobs/). */
export interface CliJobs {
  drill: Job<DrillJobPayload, RunDrillResult>;
  staleCheck: Job<StaleCheckPayload, StaleCheckResult>;
  heartbeat: Job<HeartbeatPayload, HeartbeatResult>;
  /** Leftover scratch folders removed (and dead runs closed): `run` does it before its drills. */
  scratchSweep: PeriodicJob;
  /** Jobs the daemon runs on their own schedules (scratch sweep, stale check). */
  periodic?: readonly PeriodicJob[];
}

/** Adds the options every command takes, so `--config` works after any verb. */
export function withCommonOptions(command: Command, options: { json?: boolean } = {}): Command {
  command
    .addOption(
      new Option('-c, --config <path>', 'config file')
        .default(DEFAULT_CONFIG)
        .env('RESTORE_DRILL_CONFIG'),
    )
    .addOption(
      new Option('--log-level <level>', 'log level').choices([
        'trace',
        'debug',
        'info',
        'warn',
        'error',
        'silent',
      ]),
    )
    .addOption(
      new Option('--log-format <format>', 'log format on stderr').choices([
        'json',
        'pretty',
        'auto',
      ]),
    );
  if (options.json !== false)
    command.option('--json', 'print one JSON document on stdout (logs stay on stderr)');
  return command;
}

export function loggerFor(options: CommonOptions): Logger {
  return createLogger({
    ...(options.logLevel ? { level: options.logLevel } : {}),
    ...(options.logFormat ? { format: options.logFormat } : {}),
  });
}

/** Sections only some commands use: the others do not need their `${env:}` variables set. */
const COMMAND_SECTIONS = ['serve'] as const;

/**
 * Loads the config or fails with exit code 2 and every problem listed. `uses` names the
 * command-specific sections this command needs; unset variables elsewhere in those are not its problem.
 * With `scratch`, a dangerous scratch root is refused too (commands that restore, and `validate`).
 */
export async function loadConfigOrExit(
  options: CommonOptions,
  needs: { uses?: readonly (typeof COMMAND_SECTIONS)[number][]; scratch?: boolean } = {},
): Promise<LoadedConfig> {
  let loaded: LoadedConfig;
  try {
    const unusedSections = COMMAND_SECTIONS.filter(
      (section) => !(needs.uses ?? []).includes(section),
    );
    loaded = await loadConfig(options.config, process.env, { unusedSections });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, ExitCode.Usage, 'config');
    throw error;
  }
  // Commands that restore (and `validate`) refuse a dangerous scratch root up front; readers of evidence do not care.
  if (needs.scratch) {
    try {
      await guardConfigScratchRoot(loaded.config, loaded.dir);
    } catch (error) {
      if (error instanceof ScratchError)
        throw new CliError(
          `${loaded.file} scratch.root: ${error.message}`,
          ExitCode.Usage,
          'config',
        );
      throw error;
    }
  }
  return loaded;
}

/**
 * Opens the evidence store the config names (embedded PGlite beside the config by
 * default), then appends the results waiting in the spool, so every command that
 * opens the store replays it. With `waitFor`, an unreachable store is retried
 * with backoff for `database.waitFor` first.
 */
export async function openStoreFor(
  loaded: LoadedConfig,
  log: Logger,
  options: { waitFor?: boolean } = {},
): Promise<EvidenceStore> {
  // Loaded here, not above: `validate` and `init` read the config without the store's code (kysely…).
  const [{ openEvidenceStore }, { replaySpool, spoolDirFor }, { retryWhileUnavailable }] =
    await Promise.all([
      import('../evidence/open-store.js'),
      import('../evidence/spool.js'),
      import('../evidence/store-retry.js'),
    ]);
  let store: EvidenceStore;
  try {
    const open = () =>
      openEvidenceStore({
        ...(loaded.config.database.url ? { url: loaded.config.database.url } : {}),
        embeddedDir: embeddedDirFor(loaded.config.database, loaded.dir),
        log,
      });
    store = options.waitFor
      ? await retryWhileUnavailable(open, {
          budgetMs: loaded.config.database.waitFor,
          onRetry: (error, attempt, delayMs) =>
            log.warn(
              { attempt, delayMs, err: reasonOf(error) },
              'evidence store unavailable; waiting',
            ),
        })
      : await open();
  } catch (error) {
    throw new CliError(
      `cannot open the evidence database: ${(error as Error).message}`,
      ExitCode.Failed,
      'store.unavailable',
    );
  }
  try {
    await replaySpool(store.db, spoolDirFor(loaded.config, loaded.dir), log);
  } catch (error) {
    log.warn({ err: reasonOf(error) }, 'could not replay the spool; its results keep waiting');
  }
  return store;
}

/** Results still waiting in the config's spool (after a replay), for the commands that must say so. */
export interface SpoolWaiting {
  path: string;
  /** Results waiting, oldest first, plus files that cannot be read. */
  waiting: number;
  runs: string[];
  oldestSpooledAt: string | null;
  /** Why the spool folder itself cannot be read: results may wait there unseen. */
  unreadable?: string;
}

export async function spoolWaiting(loaded: LoadedConfig): Promise<SpoolWaiting> {
  const { listSpool, spoolDirFor } = await import('../evidence/spool.js');
  const dir = spoolDirFor(loaded.config, loaded.dir);
  try {
    const { runs, unreadable } = await listSpool(dir);
    const spooledAt = runs.map((run) => run.spooledAt).sort();
    return {
      path: dir,
      waiting: runs.length + unreadable.length,
      runs: runs.map((run) => run.runId),
      oldestSpooledAt: spooledAt[0] ?? null,
    };
  } catch (error) {
    return { path: dir, waiting: 0, runs: [], oldestSpooledAt: null, unreadable: reasonOf(error) };
  }
}

/** Whether the commands that list evidence must mention the spool: results wait, or it cannot be read. */
export function spoolNeedsMention(spool: SpoolWaiting): boolean {
  return spool.waiting > 0 || spool.unreadable !== undefined;
}

/** The line human output ends with while results wait in the spool, or it cannot be read. */
export function formatSpoolWaiting(spool: SpoolWaiting): string {
  if (spool.unreadable !== undefined)
    return `cannot read the spool ${spool.path}: ${spool.unreadable}; results waiting there, if any, are not in the evidence store`;
  return `${spool.waiting} result${spool.waiting === 1 ? '' : 's'} waiting in the spool ${spool.path} (since ${spool.oldestSpooledAt ?? '?'}): not yet in the evidence store; added when it is back`;
}

/** A path given on the command line, absolute: `~/…` expanded (`--out=~/x` reaches us unexpanded). */
export function cliPath(text: string): string {
  try {
    return path.resolve(expandHome(text));
  } catch (error) {
    throw new CliError((error as Error).message, ExitCode.Usage);
  }
}

/** Writes one JSON document to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Commander reducer for repeatable options (`--drill a --drill b`). */
export function collectRepeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}
