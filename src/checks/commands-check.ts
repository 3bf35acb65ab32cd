import { z } from 'zod';
import { durationSchema, formatDuration } from '../model/duration.js';
import { describeExit, lastLine, runCommand } from '../exec/run-command.js';
import { CheckBrokenError, type Check, type CheckContext } from './check.js';
import { failedResult, type CheckResult } from '../model/check-result.js';
import { defineCheckKind } from './check-kind.js';
import { checkEntryNameSchema, uniqueNames } from './sql-check.js';

/** One application check: a command run over the restore, judged by its exit code. */
export const commandCheckSchema = z
  .strictObject({
    name: checkEntryNameSchema.describe("Names the check in evidence: 'command:<name>'."),
    argv: z
      .array(z.string())
      .min(1)
      .describe(
        "The program and its arguments, never run through a shell: ['gzip', '-t', '{scratch}/db.sql.gz']. {scratch} stands for the restore's folder, {database_url} for the restored database (its password goes in PGPASSWORD, never in the URL).",
      ),
    timeout: durationSchema
      .default(300_000)
      .describe(
        'Stop the command (and its children) after this long (default 5m): the command judged nothing, so the run is error (check.broken), not failed.',
      ),
    env: z
      .record(z.string(), z.string())
      .default({})
      .describe(
        "Environment added to restore-drill's own for this command; values may be ${env:NAME} (never recorded).",
      ),
  })
  .describe('A command run after the restore: exit code 0 passes, anything else fails.');

/** `checks.commands`: application checks, each its own check. */
export const commandsCheckConfigSchema = z
  .array(commandCheckSchema)
  .min(1)
  .superRefine(uniqueNames('command'))
  .describe(
    "Commands run against the restored scratch (pg_amcheck, sqlite3 … 'PRAGMA integrity_check', gzip -t, the application's own verifier), in the restore's folder; each exit code is a check and its output tail evidence.",
  );

export type CommandCheckConfig = z.output<typeof commandCheckSchema>;

const DATABASE_URL = '{database_url}';

/**
 * `command:<name>`: runs argv (placeholders filled in) in the restore's folder through
 * the one process wrapper, with a timeout that kills its tree. Exit code 0 passes; any
 * other exit or a signal fails, with the command's output tails as evidence. A program
 * that cannot be started, or that is stopped at its timeout, did not judge anything: the
 * check breaks (check.broken, the run is `error`), its command kept in the record.
 */
export class CommandCheck implements Check {
  readonly name: string;

  constructor(private readonly config: CommandCheckConfig) {
    this.name = `command:${config.name}`;
  }

  async run(context: CheckContext): Promise<CheckResult[]> {
    const wantsDatabase = this.config.argv.some((arg) => arg.includes(DATABASE_URL));
    const access = wantsDatabase ? context.outcome.database?.commandAccess?.() : undefined;
    if (wantsDatabase && access === undefined) {
      const why =
        context.outcome.database === undefined
          ? 'the source restored no database'
          : `the restored database ${context.outcome.database.location} cannot be reached by a command`;
      return [
        this.#failed(
          { argv: this.config.argv, exitCode: 0 },
          { error: 'no database_url' },
          `${DATABASE_URL} cannot be filled in: ${why} (it needs a postgres source with a scratch server)`,
        ),
      ];
    }
    const [file, ...args] = this.config.argv.map((arg) =>
      arg.replaceAll('{scratch}', context.scratchDir).replaceAll(DATABASE_URL, access?.url ?? ''),
    );
    const result = await runCommand(file!, args, {
      cwd: context.scratchDir,
      env: { ...access?.env, ...this.config.env },
      timeoutMs: this.config.timeout,
      signal: context.signal,
    });
    context.signal?.throwIfAborted();
    // Neither a program that never ran nor one stopped at its timeout said anything of the backup.
    if (result.timedOut)
      throw new CheckBrokenError(
        `${result.command} did not finish within ${formatDuration(this.config.timeout)} and was stopped: it judged nothing (raise its timeout)`,
        [result],
      );
    if (result.exitCode === null && result.signal === null)
      throw new CheckBrokenError(
        `cannot start ${JSON.stringify(file)}: ${lastLine(result.stderrTail) || 'unknown reason'}`,
        [result],
      );
    const expected = { argv: this.config.argv, exitCode: 0 };
    const actual = {
      command: result.command,
      exitCode: result.exitCode,
      signal: result.signal,
      timedOut: result.timedOut,
      durationMs: result.durationMs,
      stdoutTail: result.stdoutTail,
      stderrTail: result.stderrTail,
    };
    if (result.exitCode === 0)
      return [
        {
          name: this.name,
          verdict: 'passed',
          expected,
          actual,
          detail: `${result.command} exited 0`,
        },
      ];
    return [this.#failed(expected, actual, `${result.command}: ${describeExit(result)}`)];
  }

  #failed(expected: unknown, actual: unknown, detail: string): CheckResult {
    return failedResult(this.name, 'command-failed', { expected, actual, detail });
  }
}

/** `checks.commands`: one check per command, named `command:<name>`, after the other data checks. */
export const commandsCheckKind = defineCheckKind({
  kind: 'commands',
  section: 'checks',
  configSchema: commandsCheckConfigSchema.optional(),
  phase: 'data',
  create: (commands) => commands.map((command) => new CommandCheck(command)),
});
