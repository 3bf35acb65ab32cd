import type { PGlite } from '@electric-sql/pglite';
import { PlainDumpError, readPlainDump, stripLeadingComments } from './plain-sql.js';

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
  try {
    for await (const event of readPlainDump(file, options)) {
      if (event.kind === 'meta') {
        if (HARMLESS_META.has(event.command)) continue;
        throw new PlainLoadError(
          `psql meta-command \\${event.command} cannot be run in the embedded database (make the dump without --create, or configure scratchServer)`,
          event.line,
        );
      }
      if (event.kind === 'statement') {
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
      } else {
        copy = null;
      }
    }
  } catch (error) {
    if (error instanceof PlainDumpError) throw new PlainLoadError(error.message, error.line);
    throw error;
  }
  await lite.exec('RESET ALL');
  return result;
}

async function run(fn: () => Promise<unknown>, line: number): Promise<void> {
  try {
    await fn();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new PlainLoadError(message.split('\n')[0] ?? message, line);
  }
}
