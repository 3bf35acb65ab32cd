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

/** An error the CLI reports as one line and turns into an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failed,
  ) {
    super(message);
  }
}
