import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { READ_CHUNK_BYTES, readLines } from '../model/read-lines.js';
import { asReadError, delimitedParserOptions, RecordReadError } from './count-records.js';

/** The newest timestamp found in one file's field, and how many values were read. */
export interface NewestTime {
  /** Milliseconds since the epoch; null when no value of the field was a time. */
  newestMs: number | null;
  /** Values of the field that were times. */
  times: number;
  /** Non-empty values of the field that were not (a typo in the field name shows as zero times). */
  notTimes: number;
}

/** A field's value as a time: an ISO/RFC date text or epoch milliseconds; null otherwise. */
export function timeOf(value: unknown): number | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.getTime();
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string' || value.trim() === '') return null;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

function collector(): { add(value: unknown): void; result(): NewestTime } {
  const found: NewestTime = { newestMs: null, times: 0, notTimes: 0 };
  return {
    add(value) {
      if (value === undefined || value === null || value === '') return;
      const time = timeOf(value);
      if (time === null) {
        found.notTimes += 1;
        return;
      }
      found.times += 1;
      if (found.newestMs === null || time > found.newestMs) found.newestMs = time;
    },
    result: () => found,
  };
}

/**
 * The newest time in `field` of a CSV/TSV file (a column named in its header line) or a
 * JSON Lines file (a top-level key), streaming. Throws RecordReadError when the file
 * does not parse, or a CSV has no such column.
 */
export async function newestFieldTime(
  path: string,
  format: 'csv' | 'tsv' | 'jsonl',
  field: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<NewestTime> {
  const newest = collector();
  if (format === 'jsonl') {
    for await (const line of readLines(path, options)) {
      if (line.text.trim() === '' || line.tooLong) continue;
      let record: unknown;
      try {
        record = JSON.parse(line.text);
      } catch {
        throw new RecordReadError(`not valid JSON Lines: line ${line.number} is not JSON`);
      }
      if (record !== null && typeof record === 'object')
        newest.add((record as Record<string, unknown>)[field]);
    }
    return newest.result();
  }
  const parser = createReadStream(path, {
    highWaterMark: READ_CHUNK_BYTES,
    signal: options.signal,
  }).pipe(parse(delimitedParserOptions(format)));
  let column: number | undefined;
  try {
    for await (const row of parser as AsyncIterable<string[]>) {
      if (column === undefined) {
        column = row.indexOf(field);
        if (column === -1) throw new RecordReadError(`no column '${field}' in its header line`);
        continue;
      }
      newest.add(row[column]);
    }
  } catch (error) {
    throw error instanceof RecordReadError ? error : asReadError(error, format);
  }
  return newest.result();
}
