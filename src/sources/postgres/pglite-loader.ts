import type { PGlite } from '@electric-sql/pglite';
import { DumpEnding, PlainDumpError, readPlainDump, stripLeadingComments } from './plain-sql.js';
import { pgDumpMajorOf } from './statement-damage.js';

/** psql meta-commands a pg_dump file may carry that change nothing in the restored data. */
const HARMLESS_META = new Set(['restrict', 'unrestrict']);

/**
 * Statements skipped, as `pg_restore --no-owner --no-acl` skips them on a server:
 * ownership and privileges name roles the embedded database does not have.
 */
const SKIPPED = [/^ALTER\s[\s\S]*\sOWNER\s+TO\s/i, /^(GRANT|REVOKE)\s/i];

/** What loading a plain dump did. */
export interface PlainLoadResult {
  statements: number;
  skipped: number;
  copies: number;
}

/** A statement of the dump failed, or the file is not a dump this loader can follow. */
export class PlainLoadError extends Error {
  override readonly name = 'PlainLoadError';
  constructor(
    message: string,
    /** 1-based line of the dump where the failing statement starts. */
    readonly line: number,
    /** What the failed statement said, when one failed: its SQLSTATE and CONTEXT. */
    readonly failure: { sqlState: string | null; context: string | null } | null = null,
    /** The major version of the pg_dump that wrote the dump, from its header. */
    readonly dumpMajor: number | null = null,
    /** The dump's text is damaged (cut short, bytes invalid in its encoding). */
    readonly damaged = false,
  ) {
    super(message);
  }
}

/**
 * Loads a plain-SQL pg_dump file into PGlite statement by statement, as psql would:
 * `\restrict`/`\unrestrict` are skipped, any other meta-command (`\connect` of a
 * `--create` dump) is refused, COPY data is fed in batches through PGlite's
 * `/dev/blob`, ownership and privilege statements are skipped, and `RESET ALL` runs
 * at the end (the dump empties `search_path`). The first failing statement stops the
 * load, as `psql -v ON_ERROR_STOP=1` does.
 */
export async function loadPlainDump(
  lite: PGlite,
  file: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<PlainLoadResult> {
  const result: PlainLoadResult = { statements: 0, skipped: 0, copies: 0 };
  let copy: { sql: string; line: number } | null = null;
  let dumpMajor: number | null = null;
  /** Runs one statement; a failure names its line, SQLSTATE and context. */
  const run = async (fn: () => Promise<unknown>, line: number): Promise<void> => {
    try {
      await fn();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const { code, where } = error as { code?: unknown; where?: unknown };
      throw new PlainLoadError(
        message.split('\n')[0] ?? message,
        line,
        {
          sqlState: typeof code === 'string' ? code : null,
          context: typeof where === 'string' ? (where.split('\n')[0] ?? null) : null,
        },
        dumpMajor,
      );
    }
  };
  const ending = new DumpEnding();
  try {
    for await (const event of readPlainDump(file, options)) {
      if (!ending.see(event)) continue;
      if (event.kind === 'meta') {
        if (HARMLESS_META.has(event.command)) continue;
        throw new PlainLoadError(
          `psql meta-command \\${event.command} cannot be run in the embedded database (make the dump without --create, or configure scratchServer)`,
          event.line,
        );
      }
      if (event.kind === 'statement') {
        if (result.statements === 0) dumpMajor ??= pgDumpMajorOf(event.text);
        const bare = stripLeadingComments(event.text);
        if (SKIPPED.some((pattern) => pattern.test(bare))) {
          result.skipped += 1;
          continue;
        }
        await run(() => lite.exec(event.text), event.line);
        result.statements += 1;
      } else if (event.kind === 'copy-start') {
        copy = {
          sql: stripLeadingComments(event.text).replace(
            /\sFROM\s+stdin\s*;\s*$/i,
            " FROM '/dev/blob';",
          ),
          line: event.line,
        };
        result.copies += 1;
      } else if (event.kind === 'copy-data') {
        const current = copy as { sql: string; line: number };
        // COPY appends, so a table's data may arrive in several batches.
        await run(
          () => lite.query(current.sql, [], { blob: new Blob([event.data]) }),
          current.line,
        );
      } else if (event.kind === 'copy-end') {
        copy = null;
      }
    }
    ending.check();
  } catch (error) {
    if (error instanceof PlainDumpError)
      throw new PlainLoadError(error.message, error.line, null, dumpMajor, error.damaged);
    throw error;
  }
  await lite.exec('RESET ALL');
  return result;
}
