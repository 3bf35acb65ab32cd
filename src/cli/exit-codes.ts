/** restore-drill's exit codes, as documented in the README. */
export const ExitCode = {
  /** Every drill passed (or the command succeeded). */
  Ok: 0,
  /** A drill failed, errored or timed out; or the command could not do its work. */
  Failed: 1,
  /** Usage or config error: nothing was run. */
  Usage: 2,
  /**
   * A run's result could be written neither to the evidence store nor to the
   * spool: it was printed as JSON on stdout, and exists nowhere else.
   */
  NotRecorded: 3,
} as const;

/**
 * The stable `error.code` of a failure in `--json` mode (README, "Errors in --json mode"):
 * what a wrapper branches on, while the message is for people.
 */
export type CliErrorCode =
  /** A bad flag, argument or verb: nothing was run. */
  | 'usage'
  /** The config file is missing, unreadable or invalid (every problem is in the message). */
  | 'config'
  /** `--drill` names a drill the config does not have. */
  | 'drill.unknown'
  /** A run id (`show`, `--replay`) that the evidence store does not hold. */
  | 'run.unknown'
  /** The evidence store could not be opened. */
  | 'store.unavailable'
  /** The command could not do its work for another reason named in the message. */
  | 'failed'
  /** A run's result could be written neither to the store nor to the spool. */
  | 'not-recorded';

/** The code a failure gets when its thrower names none: from its exit code. */
function defaultCode(exitCode: number): CliErrorCode {
  if (exitCode === ExitCode.Usage) return 'usage';
  if (exitCode === ExitCode.NotRecorded) return 'not-recorded';
  return 'failed';
}

/** An error the CLI reports as one line and turns into an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: CliErrorCode;
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failed,
    code?: CliErrorCode,
  ) {
    super(message);
    this.code = code ?? defaultCode(exitCode);
  }
}
