import { Command } from 'commander';
import { parseDuration } from '../model/duration.js';
import { runVerdictSchema } from '../evidence/run-record.js';
import { findUnfinishedRuns, listRuns, streamRuns, type RunStart } from '../evidence/runs.js';
import { mapItems, writeJsonObject } from './json-stream.js';
import { formatHistoryLine, runToJson } from './format.js';
import {
  unfinishedDetail,
  unfinishedMark,
  unfinishedState,
  unfinishedToJson,
  type UnfinishedState,
} from './unfinished.js';
import {
  collectRepeatable,
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  spoolNeedsMention,
  spoolWaiting,
  formatSpoolWaiting,
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
      const filter = {
        ...(options.drill.length > 0 ? { drill: options.drill } : {}),
        ...(since !== undefined ? { since: new Date(Date.now() - since) } : {}),
        ...(options.verdict.length > 0 ? { verdict: options.verdict } : {}),
        limit,
      };
      // Runs started and not finished: going on, or left by a process that died (until the next
      // `run` or daemon start records them aborted). A verdict filter asks for finished runs only.
      const unfinished =
        options.verdict.length > 0
          ? []
          : (await findUnfinishedRuns(store.db))
              .filter(
                (start) =>
                  (options.drill.length === 0 || options.drill.includes(start.drill)) &&
                  (since === undefined || start.startedAt.getTime() >= Date.now() - since),
              )
              .reverse()
              .map((start) => ({ start, state: unfinishedState(start) }));
      const spool = await spoolWaiting(loaded);
      if (options.json) {
        // Streamed a page at a time: `--limit 1000000 --json` holds one page, not a million runs.
        await writeJsonObject(process.stdout, [
          [
            'runs',
            mapItems(streamRuns(store.db, filter), (run) => runToJson(run, { times: true })),
          ],
          ...(unfinished.length > 0
            ? [
                [
                  'unfinished',
                  unfinished.map(({ start, state }) => unfinishedToJson(start, state)),
                ] as const,
              ]
            : []),
          ...(spoolNeedsMention(spool) ? [['spool', spool] as const] : []),
        ]);
      } else {
        const runs = await listRuns(store.db, filter);
        if (unfinished.length > 0)
          process.stdout.write(
            `${unfinished.map(({ start, state }) => formatUnfinishedLine(start, state)).join('\n')}\n`,
          );
        if (runs.length === 0 && unfinished.length === 0)
          process.stdout.write('no runs recorded\n');
        else if (runs.length > 0)
          process.stdout.write(`${runs.map(formatHistoryLine).join('\n')}\n`);
        if (spoolNeedsMention(spool)) process.stdout.write(`${formatSpoolWaiting(spool)}\n`);
      }
    } finally {
      await store.close();
    }
  });
  return command;
}

function formatUnfinishedLine(start: RunStart, state: UnfinishedState): string {
  const when = start.startedAt.toISOString().replace('T', ' ').slice(0, 19);
  return `${when}  ${start.runId.slice(0, 8)}  ${unfinishedMark(state).padEnd(7)} ${start.drill.padEnd(24)}  ${unfinishedDetail(start, state)}`;
}
