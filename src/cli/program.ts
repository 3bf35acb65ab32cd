import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import type { CliJobs } from './context.js';
import { CliError, ExitCode, type CliErrorCode } from './exit-codes.js';
import { addExamples } from './examples.js';

/** The jobs, or a loader for them: only the verbs that run jobs pay for importing them. */
export type CliJobsSource = CliJobs | (() => Promise<CliJobs>);

/**
 * Every verb, in help order, each loaded only when used: a command imports its own
 * modules (the AWS SDK, PGlite, kysely…), so `--version` or `history` never loads what `run` needs.
 */
const VERBS: Readonly<
  Record<string, (jobs: () => Promise<CliJobs>, program: () => Command) => Promise<Command>>
> = {
  run: async (jobs) => (await import('./run.js')).runCommand(await jobs()),
  history: async () => (await import('./history.js')).historyCommand(),
  show: async () => (await import('./show.js')).showCommand(),
  signoff: async () => (await import('./signoff.js')).signoffCommand(),
  selftest: async () => (await import('./selftest.js')).selftestCommand(),
  validate: async () => (await import('./validate.js')).validateCommand(),
  init: async () => (await import('./init.js')).initCommand(),
  alerts: async (jobs) => (await import('./alerts.js')).alertsCommand(await jobs()),
  report: async () => (await import('./report.js')).reportCommand(),
  evidence: async () => (await import('./evidence.js')).evidenceCommand(),
  manifest: async () => (await import('./manifest.js')).manifestCommand(),
  serve: async () => (await import('./serve.js')).serveCommand(),
  daemon: async (jobs) => (await import('./daemon.js')).daemonCommand(await jobs()),
  completion: async (_jobs, program) =>
    (await import('./completion.js')).completionCommand(program),
};

/**
 * The verbs `argv` needs: the one it names, none for `--version`, and every verb for
 * help, completion scripts, a mistyped verb (so commander can suggest one) or no verb at all.
 */
function verbsFor(argv: readonly string[]): readonly string[] {
  const first = argv[2];
  if (first === '-V' || first === '--version') return [];
  if (first !== undefined && first !== 'completion' && Object.hasOwn(VERBS, first)) return [first];
  return Object.keys(VERBS);
}

/** The `restore-drill` command line with the verbs `argv` needs (all of them by default). */
export async function createProgram(
  jobs: CliJobsSource,
  argv: readonly string[] = [],
): Promise<Command> {
  let loadedJobs: Promise<CliJobs> | undefined;
  const getJobs = (): Promise<CliJobs> =>
    (loadedJobs ??= typeof jobs === 'function' ? jobs() : Promise.resolve(jobs));
  const program = new Command('restore-drill')
    .description(
      'Prove that backups restore: run restore drills, verify what comes back, keep the evidence.',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 all drills passed, 1 a drill failed or the command could not do its work, 2 usage or config error.',
    )
    .exitOverride();
  const commands = await Promise.all(
    verbsFor(argv).map((verb) => VERBS[verb]!(getJobs, () => program)),
  );
  for (const command of commands) program.addCommand(command.exitOverride());
  addExamples(program);
  return program;
}

/** Runs the CLI and returns the exit code; every error becomes one line on stderr (and, with `--json`, one JSON object on stdout). */
export async function main(argv: string[], jobs: CliJobsSource): Promise<number> {
  try {
    const program = await createProgram(jobs, argv);
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok;
  } catch (error) {
    const failure = describeFailure(error);
    if (failure === null) return ExitCode.Ok;
    // Commander has already written its own message to stderr.
    if (!(error instanceof CommanderError))
      process.stderr.write(`restore-drill: ${failure.message}\n`);
    if (wantsJson(argv))
      process.stdout.write(
        `${JSON.stringify({ error: { code: failure.code, message: failure.message } }, null, 2)}\n`,
      );
    return failure.exitCode;
  }
}

/** A failure as the CLI reports it; null for commander's help and version exits. */
function describeFailure(
  error: unknown,
): { code: CliErrorCode; message: string; exitCode: number } | null {
  if (error instanceof CommanderError) {
    // Help and version exit 0; everything else commander rejects is a usage error.
    if (error.exitCode === 0) return null;
    return {
      code: 'usage',
      message: error.message.replace(/^error: /, ''),
      exitCode: ExitCode.Usage,
    };
  }
  if (error instanceof CliError)
    return { code: error.code, message: error.message, exitCode: error.exitCode };
  return {
    code: 'failed',
    message: error instanceof Error ? error.message : String(error),
    exitCode: ExitCode.Failed,
  };
}

/** `--json` among the arguments (before a `--`): failures then answer in JSON too, even a bad flag or verb. */
function wantsJson(argv: readonly string[]): boolean {
  for (const arg of argv.slice(2)) {
    if (arg === '--') return false;
    if (arg === '--json') return true;
  }
  return false;
}
