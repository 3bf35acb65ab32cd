import { Command } from 'commander';
import type { RunRecord } from '../evidence/run-record.js';
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
      );
    }
    if (options.replay && options.drill.length !== 1)
      throw new CliError('--replay needs exactly one --drill', ExitCode.Usage);
    const names = options.drill.length > 0 ? options.drill : [...known];
    const log = loggerFor(options);
    const store = await openStoreFor(loaded, log);
    // Runs hold leases so a daemon on the same database never takes them for dead.
    const leases = createRunLeases({
      dialect: store.dialect,
      url: loaded.config.database.url,
      log,
    });
    const records: RunRecord[] = [];
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
          throw new CliError(`no run '${options.replay}' in the evidence database`, ExitCode.Usage);
        if (found.record.drill !== names[0]) {
          throw new CliError(
            `run ${options.replay} belongs to drill '${found.record.drill}', not '${names[0]}'`,
            ExitCode.Usage,
          );
        }
        const items = await listRunItems(store.db, found.record.runId);
        // Sources that restore into a database keep no items in run_items: their sample is in the record.
        const paths = items.map((item) => item.path);
        const whole = found.record.sample === null || found.record.sample.spec === 'all';
        replay = {
          record: found.record,
          items: paths.length > 0 ? paths : whole ? null : (found.record.sample?.items ?? []),
        };
      }
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
          },
        );
        if (result.status !== 'finished') continue;
        records.push(result.record);
        if (!options.json) process.stdout.write(`${formatRunSummary(result.record)}\n`);
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await leases.close();
      await store.close();
    }
    if (options.json) printJson({ runs: records.map((record) => runToJson(record)) });
    process.exitCode = records.every((record) => record.verdict === 'passed')
      ? ExitCode.Ok
      : ExitCode.Failed;
  });
  return command;
}
