/** Evidence of one subprocess: what ran, how it ended, and the tail of what it said. */
export interface ExecRecord {
  /** The command line, redacted, for a person to read (never run through a shell). */
  command: string;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  timedOut: boolean;
  canceled: boolean;
  stdoutTail: string;
  stderrTail: string;
}
