import { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { runVerdictSchema } from '../evidence/run-record.js';
import { listRuns } from '../evidence/runs.js';
import { formatHistoryLine, runToJson } from './format.js';
import {
  collectRepeatable,
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  spoolWaiting,
  formatSpoolWaiting,
  printJson,
  withCommonOptions,
  type CommonOptions,
} from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

interface HistoryOptions extends CommonOptions {
  drill: string[];
  since?: string;
  verdict: string[];
  limit: string;
}

/** `restore-drill history`: past runs from the evidence database, newest first. */
export function historyCommand(): Command {
  const command = new Command('history')
    .description('List recorded runs, newest first')
    .option('-d, --drill <name>', 'only this drill (repeatable)', collectRepeatable, [])
    .option('--since <duration>', "only runs started within this long, e.g. '30d'")
    .option(
      '--verdict <verdict>',
      'only runs with this verdict (repeatable)',
      collectRepeatable,
      [],
    )
    .option('--limit <n>', 'at most this many runs', '100');
  withCommonOptions(command).action(async (options: HistoryOptions) => {
    const since = options.since === undefined ? undefined : parseDuration(options.since);
    if (options.since !== undefined && since === undefined)
      throw new CliError(
        `--since: '${options.since}' is not a duration; expected e.g. 30d, 12h`,
        ExitCode.Usage,
      );
    const limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit <= 0)
      throw new CliError(
        `--limit: '${options.limit}' is not a positive whole number`,
        ExitCode.Usage,
      );
    for (const verdict of options.verdict) {
      if (!runVerdictSchema.safeParse(verdict).success) {
        throw new CliError(
          `--verdict: '${verdict}' is not a verdict; expected one of ${runVerdictSchema.options.join(', ')}`,
          ExitCode.Usage,
        );
      }
    }
    const loaded = await loadConfigOrExit(options);
    const log = loggerFor(options);
    const store = await openStoreFor(loaded, log);
    try {
      const runs = await listRuns(store.db, {
        ...(options.drill.length > 0 ? { drill: options.drill } : {}),
        ...(since !== undefined ? { since: new Date(Date.now() - since) } : {}),
        ...(options.verdict.length > 0 ? { verdict: options.verdict } : {}),
        limit,
      });
      const spool = await spoolWaiting(loaded);
      if (options.json)
        printJson({
          runs: runs.map((record) => runToJson(record, { times: true })),
          ...(spool.waiting > 0 ? { spool } : {}),
        });
      else {
        if (runs.length === 0) process.stdout.write('no runs recorded\n');
        else process.stdout.write(`${runs.map(formatHistoryLine).join('\n')}\n`);
        if (spool.waiting > 0) process.stdout.write(`${formatSpoolWaiting(spool)}\n`);
      }
    } finally {
      await store.close();
    }
  });
  return command;
}
