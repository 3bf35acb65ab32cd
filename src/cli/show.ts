import { Command } from 'commander';
import { describeAssurance } from '../report/assurance.js';
import { listReviews } from '../evidence/reviews.js';
import { findUnfinishedRun, getRun, listRunItems, type RunStart } from '../evidence/runs.js';
import { formatRunSummary } from './format.js';
import { describeExit } from '../exec/run-command.js';
import { printable } from '../model/file-name.js';
import {
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  spoolNeedsMention,
  spoolWaiting,
  formatSpoolWaiting,
  printJson,
  withCommonOptions,
  type CommonOptions,
} from './context.js';
import { CliError, ExitCode } from './exit-codes.js';
import { formatReview } from './signoff.js';
import {
  unfinishedDetail,
  unfinishedMark,
  unfinishedState,
  unfinishedToJson,
} from './unfinished.js';

interface ShowOptions extends CommonOptions {
  items?: boolean;
  all?: boolean;
}

/** `restore-drill show RUN`: the full evidence of one run. */
export function showCommand(): Command {
  const command = new Command('show')
    .description('Show the full evidence of one run (a run id or a unique prefix of it)')
    .argument('<runId>', 'run id or unique prefix')
    .option('--all', 'list every finding of every check (default: the first 5 of each)')
    .option(
      '--items',
      'also list every restored item: files with size and SHA-256, links with their target',
    );
  withCommonOptions(command).action(async (runId: string, options: ShowOptions) => {
    const loaded = await loadConfigOrExit(options);
    const store = await openStoreFor(loaded, loggerFor(options));
    try {
      const found = await getRun(store.db, runId);
      const unfinished = found ? undefined : await findUnfinishedRun(store.db, runId);
      if (unfinished) {
        showUnfinished(unfinished, options);
        return;
      }
      if (!found) {
        const spool = await spoolWaiting(loaded);
        const spooled = spool.runs.find((id) => id.startsWith(runId));
        if (spooled !== undefined)
          throw new CliError(
            `run ${spooled} finished, but its result is waiting in the spool ${spool.path}: not yet in the evidence store; added when it is back`,
          );
        throw new CliError(
          `no run '${runId}' in the evidence database${spoolNeedsMention(spool) ? `; ${formatSpoolWaiting(spool)}` : ''}`,
          ExitCode.Usage,
          'run.unknown',
        );
      }
      const items = options.items ? await listRunItems(store.db, found.record.runId) : undefined;
      const reviews = await listReviews(store.db, [found.record.runId]);
      if (options.json) {
        printJson({
          ...found.record,
          chain: { seq: found.seq, prevHash: found.prevHash, recordHash: found.recordHash },
          reviews,
          ...(items ? { items } : {}),
        });
        return;
      }
      const r = found.record;
      const assurance = describeAssurance(r);
      const lines = [
        formatRunSummary(r, { all: options.all === true }),
        '',
        `run:        ${r.runId} (${r.trigger}${r.replayOf ? `, replay of ${r.replayOf}` : ''})`,
        `when:       ${r.startedAt} → ${r.finishedAt}${r.scheduledFor ? ` (slot ${r.scheduledFor})` : ''}`,
        `set:        ${r.set ? `${r.set.path}  size ${r.set.size ?? '?'}  mtime ${r.set.mtime ?? '?'}${r.set.hash ? `  hash ${r.set.hash}` : ''}` : 'none'}`,
        `sample:     ${r.sample ? `${r.sample.selectedItems} of ${r.sample.totalItems ?? '?'} items, seed ${r.sample.seed}` : 'none'}`,
        ...(assurance ? [`assurance:  ${assurance}`] : []),
        `timings:    select ${r.timings.selectMs} ms, restore ${r.timings.restoreMs} ms, verify ${r.timings.verifyMs} ms, cleanup ${r.timings.cleanupMs} ms`,
        `host:       ${r.host}, restore-drill ${r.version}, config ${r.configHash.slice(0, 16)}`,
        `evidence:   #${found.seq} ${found.recordHash}`,
        '',
        'checks:',
        ...r.checks.map(
          (check) =>
            `  ${check.verdict.padEnd(8)} ${check.name.padEnd(14)} expected ${JSON.stringify(check.expected)}, found ${JSON.stringify(check.actual)}: ${check.detail}`,
        ),
      ];
      for (const command of r.commands)
        lines.push(
          `command:    ${command.command} → ${printable(describeExit(command))} (${command.durationMs} ms)`,
        );
      lines.push(
        '',
        reviews.length === 0 ? 'reviews:    none (restore-drill signoff records one)' : 'reviews:',
        ...reviews.map((review) => `  ${formatReview(review)}`),
      );
      if (items)
        lines.push(
          '',
          'items:',
          ...items.map((item) =>
            item.linkTarget === undefined
              ? `  ${item.sha256 ?? '-'.repeat(64)}  ${String(item.size).padStart(12)}  ${item.path}`
              : `  ${'link'.padEnd(64)}  ${''.padStart(12)}  ${item.path} -> ${item.linkTarget}`,
          ),
        );
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      await store.close();
    }
  });
  return command;
}

/** A run that started and has no result: going on, or left by a process that died. */
function showUnfinished(start: RunStart, options: ShowOptions): void {
  const state = unfinishedState(start);
  if (options.json) {
    printJson({ ...unfinishedToJson(start, state), finished: false, verdict: null });
    return;
  }
  const what = {
    running: 'is still running: no result yet',
    abandoned: 'was abandoned: its process is gone and no result was recorded',
    elsewhere: 'has no result yet: it runs on another host, not judged from here',
  }[state];
  const lines = [
    `${unfinishedMark(state)}  ${start.drill}: run ${start.runId} ${what}`,
    '',
    `run:        ${start.runId} (${start.trigger}${start.replayOf ? `, replay of ${start.replayOf}` : ''})`,
    `started:    ${start.startedAt.toISOString()}${start.scheduledFor ? ` (slot ${start.scheduledFor.toISOString()})` : ''}`,
    `process:    ${unfinishedDetail(start, state)}`,
    `host:       ${start.host}, restore-drill ${start.version}, config ${start.configHash.slice(0, 16)}`,
    `scratch:    ${start.scratchDir ?? 'none yet'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
