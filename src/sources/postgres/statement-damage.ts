import type { ExecRecord } from '../../model/exec-record.js';
import { SourceError } from '../../model/restore.js';
import { BackupDamagedError } from '../restore-source.js';

/**
 * SQLSTATEs with which a statement of a plain dump fails when the dump's own text is
 * damaged. pg_dump writes only valid SQL, and only data its server accepted under the
 * table's constraints, so on a PostgreSQL at least as new as that pg_dump these say the
 * dump does not restore (`failed`). Errors that depend on the target (a missing role,
 * schema, table or extension: a partial or data-only dump) are not listed: the drill could
 * not judge the dump from them (`error`).
 */
const DAMAGE_SQLSTATES: ReadonlySet<string> = new Set([
  '42601', // syntax_error: garbled SQL, or a statement cut short
  '22021', // character_not_in_repertoire: bytes invalid in the dump's encoding
  '22P02', // invalid_text_representation: a value that does not parse as its column's type
  '22P04', // bad_copy_file_format: COPY rows with missing or extra columns
  '22001', // string_data_right_truncation: a value longer than its column allows
  '22003', // numeric_value_out_of_range
  '22007', // invalid_datetime_format
  '22008', // datetime_field_overflow
  '23502', // not_null_violation
  '23505', // unique_violation
]);

/** The major version of the pg_dump that wrote a plain dump, from its header comment. */
export function pgDumpMajorOf(text: string): number | null {
  const match = /^-- Dumped by pg_dump version (\d+)/m.exec(text);
  return match ? Number(match[1]) : null;
}

/** The major version in `server_version_num` (170004 → 17, 90624 → 9). */
export function majorOfVersionNum(versionNum: string | number): number {
  return Math.floor(Number(versionNum) / 10_000);
}

/**
 * How a failed statement of a plain dump is judged: `damage` when its SQLSTATE says the
 * dump's text is bad and the target is as new as the pg_dump that made it; otherwise
 * `error`, with a note when only the versions keep it from being judged.
 */
export function judgeStatementFailure(
  sqlState: string | null,
  versions: { dump: number | null; target: number | null },
): { verdict: 'damage' } | { verdict: 'error'; note: string | null } {
  if (sqlState === null || !DAMAGE_SQLSTATES.has(sqlState)) return { verdict: 'error', note: null };
  const { dump, target } = versions;
  if (dump !== null && target !== null && dump > target)
    return {
      verdict: 'error',
      note: `pg_dump ${dump} made the dump and it was restored into PostgreSQL ${target}: restore it into PostgreSQL ${dump} or newer to judge it`,
    };
  return { verdict: 'damage' };
}

/** A statement of a plain dump that failed, as psql or the embedded loader reported it. */
export interface StatementFailure {
  /** 1-based line of the dump where the statement starts. */
  line: number;
  /** The server's message (psql's keeps its `ERROR:`). */
  message: string;
  sqlState: string | null;
  /** The server's CONTEXT line: for COPY data, the table, row and column. */
  context: string | null;
  versions: { dump: number | null; target: number | null };
  /** The psql run, kept as evidence. */
  commands?: readonly ExecRecord[];
  cause?: unknown;
}

/** The error a failed statement of `dump` ends the restore with: damage (`failed`) or not judged (`error`). */
export function statementFailure(
  dump: string,
  failure: StatementFailure,
): BackupDamagedError | SourceError {
  const where = `plain dump ${dump} line ${failure.line}`;
  const commands = failure.commands ?? [];
  const judged = judgeStatementFailure(failure.sqlState, failure.versions);
  if (judged.verdict === 'damage') {
    const detail = failure.context ? `${failure.message} (${failure.context})` : failure.message;
    return new BackupDamagedError(
      `${where}: ${detail}`,
      { detail, entry: `line ${failure.line}`, offset: null },
      { files: [], refused: [], commands: [...commands] },
      { cause: failure.cause },
    );
  }
  const note = judged.note === null ? '' : `; ${judged.note}`;
  return new SourceError(`${where}: ${failure.message}${note}`, false, {
    cause: failure.cause,
    commands,
  });
}
