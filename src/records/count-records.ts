import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse, type Options as CsvOptions } from 'csv-parse';
import type BetterSqlite3 from 'better-sqlite3';
import { READ_CHUNK_BYTES, readLines } from '../model/read-lines.js';

/** File formats whose records restore-drill can count. */
export const recordFormats = ['csv', 'tsv', 'jsonl', 'sqlite'] as const;
export type RecordFormat = (typeof recordFormats)[number];

/**
 * Records in one file: a count of rows (CSV/TSV without the header line, JSON Lines)
 * or, for a SQLite database, the row count of each table by name.
 */
export type RecordCount = number | Record<string, number>;

/** The file is not what its name says (a CSV with an unclosed quote, a line that is not JSON, not a SQLite database). */
export class RecordReadError extends Error {
  override readonly name = 'RecordReadError';
}

const EXTENSIONS: Record<string, RecordFormat> = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.sqlite': 'sqlite',
  '.sqlite3': 'sqlite',
  '.db': 'sqlite',
};

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * The record format a file is recognised as, by its name (`.csv`, `.tsv`, `.jsonl`,
 * `.ndjson`, `.sqlite`, `.sqlite3`, `.db`); a `.db` file must also start with SQLite's
 * magic header, since the extension is used by other tools. Null: not recognised.
 */
export async function recognise(path: string): Promise<RecordFormat | null> {
  const format = EXTENSIONS[extname(path).toLowerCase()] ?? null;
  if (format !== 'sqlite' || extname(path).toLowerCase() !== '.db') return format;
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(SQLITE_MAGIC.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return bytesRead === head.length && head.equals(SQLITE_MAGIC) ? 'sqlite' : null;
  } finally {
    await handle.close();
  }
}

/** Options every counter takes. */
export interface CountOptions {
  /** CSV/TSV: the first line names the columns and is not a record (default true). */
  header?: boolean;
  signal?: AbortSignal | undefined;
}

/**
 * Counts the records of one file, streaming (memory stays at one record whatever the
 * size). Throws RecordReadError naming the line when the file does not parse as its
 * format, and the file system's error when it cannot be read.
 */
export async function countRecords(
  path: string,
  format: RecordFormat,
  options: CountOptions = {},
): Promise<RecordCount> {
  if (format === 'csv' || format === 'tsv') return countDelimited(path, format, options);
  if (format === 'jsonl') return countJsonLines(path, options);
  return countSqliteTables(path);
}

/** csv-parse options for a format: RFC 4180 quoting (newlines inside quotes), a BOM skipped. */
export function delimitedParserOptions(format: 'csv' | 'tsv'): CsvOptions {
  return {
    delimiter: format === 'csv' ? ',' : '\t',
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
  };
}

async function countDelimited(
  path: string,
  format: 'csv' | 'tsv',
  options: CountOptions,
): Promise<number> {
  const parser = createReadStream(path, {
    highWaterMark: READ_CHUNK_BYTES,
    signal: options.signal,
  }).pipe(parse(delimitedParserOptions(format)));
  let rows = 0;
  try {
    for await (const _record of parser as AsyncIterable<unknown>) rows += 1;
  } catch (error) {
    throw asReadError(error, format);
  }
  return options.header === false ? rows : Math.max(0, rows - 1);
}

/** csv-parse's errors carry a code and the line: one short line naming both. */
export function asReadError(error: unknown, format: string): Error {
  const { code, lines } = error as { code?: unknown; lines?: unknown };
  if (typeof code !== 'string' || !code.startsWith('CSV_')) return error as Error;
  const kind = `not valid ${format.toUpperCase()}`;
  // csv-parse's own words for this one are long and bury the line; summaries cut them.
  if (code === 'CSV_QUOTE_NOT_CLOSED' && typeof lines === 'number')
    return new RecordReadError(
      `${kind}: a quote is never closed (the file ends inside a quoted field, at line ${lines})`,
    );
  return new RecordReadError(`${kind}: ${(error as Error).message.split('\n')[0]}`);
}

async function countJsonLines(path: string, options: CountOptions): Promise<number> {
  let records = 0;
  for await (const line of readLines(path, options)) {
    if (line.text.trim() === '') continue;
    if (line.tooLong) {
      // A record this long is still one record: count it without parsing it.
      records += 1;
      continue;
    }
    try {
      JSON.parse(line.text);
    } catch {
      throw new RecordReadError(`not valid JSON Lines: line ${line.number} is not JSON`);
    }
    records += 1;
  }
  return records;
}

/** Row counts of every table of a SQLite database, opened read-only (SQLite counts; no row is read here). */
export async function countSqliteTables(path: string): Promise<Record<string, number>> {
  // Imported here, not above: its native addon then loads only for a SQLite count, not in
  // every command whose config layer has the records check.
  const { default: Database } = await import('better-sqlite3');
  let db: BetterSqlite3.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new RecordReadError(`not a SQLite database: ${(error as Error).message}`);
  }
  try {
    const tables = db
      .prepare(
        "select name from sqlite_schema where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name",
      )
      .all() as { name: string }[];
    const counts: Record<string, number> = {};
    for (const { name } of tables) {
      const row = db.prepare(`select count(*) as n from "${name.replace(/"/g, '""')}"`).get() as {
        n: number;
      };
      counts[name] = row.n;
    }
    return counts;
  } catch (error) {
    throw new RecordReadError(`not a readable SQLite database: ${(error as Error).message}`);
  } finally {
    db.close();
  }
}
