import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { alertsCommand } from './alerts.js';
import { completionCommand } from './completion.js';
import type { CliJobs } from './context.js';
import { daemonCommand } from './daemon.js';
import { CliError, ExitCode } from './exit-codes.js';
import { evidenceCommand } from './evidence.js';
import { addExamples } from './examples.js';
import { historyCommand } from './history.js';
import { manifestCommand } from './manifest.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
import { serveCommand } from './serve.js';
import { showCommand } from './show.js';
import { validateCommand } from './validate.js';

/** The `restore-drill` command line, with the jobs it hands out. */
export function createProgram(jobs: CliJobs): Command {
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
  for (const command of [
    runCommand(jobs),
    historyCommand(),
    showCommand(),
    validateCommand(),
    alertsCommand(jobs),
    reportCommand(),
    evidenceCommand(),
    manifestCommand(),
    serveCommand(),
    daemonCommand(jobs),
    completionCommand(() => program),
  ]) {
    program.addCommand(command.exitOverride());
  }
  addExamples(program);
  return program;
}

/** Runs the CLI and returns the exit code; every error becomes one line on stderr. */
export async function main(argv: string[], jobs: CliJobs): Promise<number> {
  const program = createProgram(jobs);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; everything else commander rejects is a usage error.
      return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`restore-drill: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(
      `restore-drill: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return ExitCode.Failed;
  }
}
