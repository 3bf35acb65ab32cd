/**
 * The stable codes a run's cause starts with (`restore.damaged: truncated gzip at …`),
 * so alerts, reports and people can match on them. One list: docs/causes.md explains
 * each, and a test keeps the two in step. Add a code here (and there) before using it.
 */
export const CAUSE_CODES = {
  'source.unreachable':
    'The source or the store it reads could not be reached: a missing folder, a refused connection, no repository.',
  'source.auth':
    "The source refused the credentials: a wrong password, an unreadable password file, access denied; or the drill's user may not read the backup's files (permission denied on an archive, a dump, a file or folder of a set).",
  'source.failed':
    "The source could not list or restore for another reason: its tool or command failed, or gave output that can't be read.",
  'tool.missing':
    'A tool the source runs (restic, pg_restore, a command) is not installed or cannot start.',
  'config.invalid':
    "The drill's config cannot be carried out as written, found only at run time (a cover without a schedule).",
  'set.none': 'No backup set matched the selection (or the set to replay is gone).',
  'restore.damaged':
    'The backup was reached and does not restore: a truncated archive, a damaged dump, a corrupt repository.',
  'scratch.full': 'Scratch has no room for the restore (expected size times the scratch margin).',
  'scratch.unusable':
    'The scratch root was refused or a scratch folder could not be made, measured or removed.',
  'store.unreachable': 'The evidence store could not be reached or written.',
  'check.failed': 'A check judged the restore and failed; the cause names the first failed check.',
  'verify.nothing-verified':
    'Nothing could verify the restore: it brought back no file, link or table and no check expects an empty set, or no restored item matched a value the store recorded (ETag, checksum) and no manifest is configured.',
  'check.broken':
    'A check could not run to its end and judged nothing (an error in the check itself, an application check that could not start or ran past its timeout): not a finding.',
  timeout: 'The drill ran past its timeout and was stopped.',
  aborted: 'The run was stopped (the daemon drained, a signal) or its process died.',
  internal: 'An unexpected error in restore-drill itself; the rest of the cause says where.',
} as const;

/** One of the stable cause codes. */
export type CauseCode = keyof typeof CAUSE_CODES;

/** Every cause code, in the documented order. */
export const causeCodes = Object.keys(CAUSE_CODES) as CauseCode[];

/** A run's cause: the code, then one line a person can read. */
export function formatCause(code: CauseCode, message: string): string {
  return `${code}: ${message}`;
}

/** An error that knows which cause code it is. */
export interface CodedError extends Error {
  readonly causeCode: CauseCode;
}

/** The cause code an error carries, if it carries a known one. */
export function causeCodeOfError(error: unknown): CauseCode | null {
  const code = (error as { causeCode?: unknown } | null)?.causeCode;
  return typeof code === 'string' && Object.hasOwn(CAUSE_CODES, code) ? (code as CauseCode) : null;
}

/** The code a cause starts with, or null for a cause recorded before codes existed. */
export function causeCodeOf(cause: string): CauseCode | null {
  const code = /^([a-z]+(?:\.[a-z]+(?:-[a-z]+)*)?): /.exec(cause)?.[1];
  return code !== undefined && Object.hasOwn(CAUSE_CODES, code) ? (code as CauseCode) : null;
}
