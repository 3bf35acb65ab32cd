/** What went wrong with the evidence store, for callers that react differently. */
export type EvidenceErrorCode =
  /** The store could not be opened: unreachable server, bad URL, broken data folder. */
  | 'open-failed'
  /** The embedded data folder is held by another process. */
  | 'locked'
  /** A schema migration failed. */
  | 'migration-failed'
  /** A record or item did not match its schema; nothing was written. */
  | 'invalid-record'
  /** A result for a run that has no start row. */
  | 'no-start'
  /** A second start with the same run id. */
  | 'duplicate-run'
  /** A second result for a run: evidence is append-only. */
  | 'duplicate-result'
  /** A run id prefix that matches more than one run. */
  | 'ambiguous-run-id'
  /** A run id (or prefix) that matches no finished run. */
  | 'unknown-run'
  /** A stored record that no longer parses: the database was changed outside restore-drill. */
  | 'corrupt-record';

/** Every error the evidence store throws on purpose: one line, naming what failed. */
export class EvidenceError extends Error {
  constructor(
    readonly code: EvidenceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EvidenceError';
  }
}

/** The first line of an error's message (node-postgres errors can be AggregateErrors with an empty message). */
export function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.message === '' && error.errors.length > 0) {
    return [...new Set(error.errors.map((inner: unknown) => reasonOf(inner)))].join('; ');
  }
  if (error instanceof Error) {
    const line = error.message.split('\n')[0]?.trim();
    const code = (error as { code?: unknown }).code;
    return line || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}
