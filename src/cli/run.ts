import { Command } from 'commander';
import { createChannels } from '../schedule/alerting.js';
import { alertLongSpooledRuns } from '../schedule/spool-alert.js';
import type { LoadedConfig } from '../config/load.js';
import type { RunDrillResult } from '../drill/run-drill.js';
import { reasonOf } from '../evidence/errors.js';
import type { Logger } from '../log/logger.js';
import { createProgressReporter } from './progress-display.js';
import type { EvidenceStore } from '../evidence/open-store.js';
import type { RunItem, RunRecord } from '../evidence/run-record.js';
import { getRun, listRunItems } from '../evidence/runs.js';
import { createRunLeases } from '../schedule/run-leases.js';
import { keepWorkingWhenOutputCloses } from './closed-output.js';
import { formatRunSummary, runToJson } from './format.js';
import {
  collectRepeatable,
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  printJson,
  withCommonOptions,
  type CliJobs,
  type CommonOptions,
} from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

interface RunOptions extends CommonOptions {
  drill: string[];
  replay?: string;
}

/** `restore-drill run`: run drills now, one after another, and exit 0 only if all passed. */
export function runCommand(jobs: CliJobs): Command {
  const command = new Command('run')
    .description('Run restore drills now and record their evidence')
    .option(
      '-d, --drill <name>',
      'run only this drill (repeatable); default: every drill',
      collectRepeatable,
      [],
    )
    .option('--replay <runId>', 'restore exactly the set and items of an earlier run of the drill');
  withCommonOptions(command).action(async (options: RunOptions) => {
    keepWorkingWhenOutputCloses();
    const loaded = await loadConfigOrExit(options, { scratch: true });
    const known = new Set(loaded.config.drills.map((drill) => drill.name));
    const unknown = options.drill.filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new CliError(
        `unknown drill ${unknown.map((n) => `'${n}'`).join(', ')}; drills in ${loaded.file}: ${[...known].join(', ')}`,
        ExitCode.Usage,
        'drill.unknown',
      );
    }
    if (options.replay && options.drill.length !== 1)
      throw new CliError('--replay needs exactly one --drill', ExitCode.Usage);
    const names = options.drill.length > 0 ? options.drill : [...known];
    const log = loggerFor(options);
    let store: EvidenceStore;
    try {
      store = await openStoreFor(loaded, log, { waitFor: true });
    } catch (error) {
      // Past database.waitFor: no drill runs, and each says why.
      if (!(error instanceof CliError)) throw error;
      const outcomes: RunOutcome[] = names.map((drill) => ({
        status: 'not-started',
        drill,
        cause: `${error.message}; the drill did not run`,
      }));
      await alertSpooled(loaded, log);
      report(outcomes, options);
      return;
    }
    // Runs hold leases so a daemon on the same database never takes them for dead.
    const leases = createRunLeases({
      dialect: store.dialect,
      url: loaded.config.database.url,
      log,
    });
    const outcomes: RunOutcome[] = [];
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`received ${signal}`));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      // Closes runs dead processes left, then removes scratch folders kept longer than scratch.keepFor.
      await jobs.scratchSweep.run(
        { scheduledFor: new Date() },
        { loaded, db: store.db, log, leases },
      );
      let replay: { record: RunRecord; items: string[] | null } | null = null;
      if (options.replay) {
        const found = await getRun(store.db, options.replay);
        if (!found)
          throw new CliError(
            `no run '${options.replay}' in the evidence database`,
            ExitCode.Usage,
            'run.unknown',
          );
        if (found.record.drill !== names[0]) {
          throw new CliError(
            `run ${options.replay} belongs to drill '${found.record.drill}', not '${names[0]}'`,
            ExitCode.Usage,
          );
        }
        const items = await listRunItems(store.db, found.record.runId);
        // Sources that restore into a database keep no items in run_items: their sample is in the record.
        // Links were restored with the whole set, never as sample items.
        const paths = items
          .filter((item) => item.linkTarget === undefined)
          .map((item) => item.path);
        const whole = found.record.sample === null || found.record.sample.spec === 'all';
        replay = {
          record: found.record,
          items: paths.length > 0 ? paths : whole ? null : (found.record.sample?.items ?? []),
        };
      }
      const progress = createProgressReporter({
        json: options.json,
        logFormat: options.logFormat,
        log,
      });
      try {
        for (const name of names) {
          if (stop.signal.aborted) break;
          const result = await jobs.drill.run(
            { drill: name, trigger: replay ? 'replay' : 'manual', replay },
            {
              loaded,
              db: store.db,
              log,
              signal: stop.signal,
              gate: { hold: (runId) => leases.hold(runId) },
              onProgress: progress.listener,
            },
          );
          if (result.status === 'slot-taken') continue;
          outcomes.push(result);
          if (!options.json) printOutcome(result);
        }
      } finally {
        progress.stop();
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await leases.close();
      await store.close();
    }
    await alertSpooled(loaded, log);
    report(outcomes, options, { printed: true });
  });
  return command;
}

/**
 * Alerts about results that have waited in the spool past `spool.alertAfter`: where `run` is
 * scheduled without a daemon (a CronJob, a timer), it is the only process that would.
 */
async function alertSpooled(loaded: LoadedConfig, log: Logger): Promise<void> {
  try {
    await alertLongSpooledRuns({
      loaded,
      channels: createChannels(loaded.config.alerts, log),
      log,
    });
  } catch (error) {
    log.warn({ err: reasonOf(error) }, 'could not alert about the results waiting in the spool');
  }
}

/** A run the command reports: finished (and where it was recorded), or not started. */
type RunOutcome = Exclude<RunDrillResult, { status: 'slot-taken' }>;

/** One line per run (more for a run whose result is not in the store), on stdout; errors on stderr. */
function printOutcome(outcome: RunOutcome): void {
  if (outcome.status === 'not-started') {
    process.stdout.write(`ERROR   ${outcome.drill}  not run: ${outcome.cause}\n`);
    return;
  }
  process.stdout.write(`${formatRunSummary(outcome.record)}\n`);
  const { recorded } = outcome;
  if (recorded.in === 'spool') {
    process.stdout.write(
      `        ! result waiting in the spool (${recorded.file}): ${recorded.reason}; it is added to the evidence store when the store is back\n`,
    );
  } else if (recorded.in === 'nowhere') {
    process.stderr.write(
      `restore-drill: RESULT NOT RECORDED for run ${outcome.record.runId} (${outcome.record.drill}): ${recorded.reason}. Its complete result follows on stdout as JSON; keep it.\n`,
    );
    process.stdout.write(`${JSON.stringify(lostResult(outcome.record, recorded.items))}\n`);
  }
}

/** A result neither the store nor the spool took, whole, for a wrapper to keep. */
function lostResult(record: RunRecord, items: readonly RunItem[]) {
  return { unrecordedResult: { record, items } };
}

/** The JSON document (with --json) and the exit code: 3 when a result was recorded nowhere, else 1 unless every drill passed. */
function report(
  outcomes: readonly RunOutcome[],
  options: RunOptions,
  { printed = false }: { printed?: boolean } = {},
): void {
  if (options.json) {
    printJson({
      runs: outcomes.map((outcome) => {
        if (outcome.status === 'not-started')
          return { drill: outcome.drill, verdict: 'error', recorded: false, cause: outcome.cause };
        const { recorded } = outcome;
        return {
          ...runToJson(outcome.record),
          recorded: recorded.in !== 'nowhere',
          ...(recorded.in === 'spool'
            ? { spooled: { file: recorded.file, reason: recorded.reason } }
            : {}),
          ...(recorded.in === 'nowhere'
            ? {
                notRecorded: {
                  reason: recorded.reason,
                  ...lostResult(outcome.record, recorded.items),
                },
              }
            : {}),
        };
      }),
    });
  } else if (!printed) {
    for (const outcome of outcomes) printOutcome(outcome);
  }
  const lost = outcomes.some(
    (outcome) => outcome.status === 'finished' && outcome.recorded.in === 'nowhere',
  );
  const allPassed = outcomes.every(
    (outcome) => outcome.status === 'finished' && outcome.record.verdict === 'passed',
  );
  process.exitCode = lost ? ExitCode.NotRecorded : allPassed ? ExitCode.Ok : ExitCode.Failed;
}
