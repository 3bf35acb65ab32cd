import { Command } from 'commander';
import { formatDuration } from '../model/duration.js';
import { runSelftest } from '../drill/selftest.js';
import { reasonOf } from '../evidence/errors.js';
import { recordSelftest, type SelftestRecord } from '../evidence/selftests.js';
import { keepWorkingWhenOutputCloses } from './closed-output.js';
import {
  loadConfigOrExit,
  loggerFor,
  openStoreFor,
  printJson,
  withCommonOptions,
  type CommonOptions,
} from './context.js';
import { CliError, ExitCode } from './exit-codes.js';

interface SelftestOptions extends CommonOptions {
  drill: string;
}

/** `restore-drill selftest --drill NAME`: damage copies of a restore and report which damage the checks catch. */
export function selftestCommand(): Command {
  const command = new Command('selftest')
    .description(
      "Prove a drill's checks bite: restore its sample into scratch, damage copies in each way that applies (flip a byte, truncate, delete or add a file, change a link target, delete rows, update a value), run the drill's checks on each, and record which damage they caught; exit 0 only when every kind was caught",
    )
    .requiredOption('-d, --drill <name>', 'the drill to test');
  withCommonOptions(command).action(async (options: SelftestOptions) => {
    keepWorkingWhenOutputCloses();
    const loaded = await loadConfigOrExit(options, { scratch: true });
    const drill = loaded.config.drills.find((each) => each.name === options.drill);
    if (drill === undefined)
      throw new CliError(
        `unknown drill '${options.drill}'; drills in ${loaded.file}: ${loaded.config.drills.map((each) => each.name).join(', ')}`,
        ExitCode.Usage,
        'drill.unknown',
      );
    const log = loggerFor(options);
    const store = await openStoreFor(loaded, log);
    const stop = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => stop.abort(new Error(`received ${signal}`));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let record: SelftestRecord;
    let recorded: { seq: number; recordHash: string } | { error: string };
    try {
      record = await runSelftest({
        drill,
        config: loaded.config,
        configDir: loaded.dir,
        db: store.db,
        log,
        signal: stop.signal,
      });
      try {
        const stored = await recordSelftest(store.db, record);
        recorded = { seq: stored.seq, recordHash: stored.recordHash };
      } catch (error) {
        recorded = { error: reasonOf(error) };
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await store.close();
    }
    if (options.json) {
      const { kind: _kind, runId, ...rest } = record;
      printJson({ id: runId, ...rest, recorded: !('error' in recorded), ...recorded });
    } else process.stdout.write(`${formatSelftest(record)}\n`);
    if ('error' in recorded) {
      process.stderr.write(
        `restore-drill: SELFTEST NOT RECORDED (${record.drill}, ${record.runId}): ${recorded.error}\n`,
      );
      if (!options.json)
        process.stdout.write(`${JSON.stringify({ unrecordedSelftest: record })}\n`);
      process.exitCode = ExitCode.NotRecorded;
      return;
    }
    process.exitCode = record.verdict === 'passed' ? ExitCode.Ok : ExitCode.Failed;
  });
  return command;
}

/** A summary line, then one line per kind of damage: detected by which checks, or the finding. */
export function formatSelftest(record: SelftestRecord): string {
  const took = formatDuration(record.durationMs);
  const id = record.runId.slice(0, 8);
  if (record.verdict === 'error')
    return `ERROR   selftest ${record.drill}  ${id}  ${record.cause ?? 'could not complete'} (${took})`;
  const missed = record.damages.filter((damage) => !damage.detected).length;
  const head =
    missed === 0
      ? `PASSED  selftest ${record.drill}  ${id}  all ${record.damages.length} kinds of damage detected (${took})`
      : `FAILED  selftest ${record.drill}  ${id}  ${missed} of ${record.damages.length} kinds of damage undetected (${took})`;
  const width = Math.max(...record.damages.map((damage) => damage.kind.length));
  const lines = record.damages.map(
    (damage) =>
      `  ${damage.kind.padEnd(width)}  ${
        damage.detected
          ? `detected by ${damage.by.join(', ')}`
          : `UNDETECTED  ${damage.finding ?? ''}`
      }  [${damage.target}]`,
  );
  return [head, ...lines].join('\n');
}
