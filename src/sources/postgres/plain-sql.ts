import { isUtf8 } from 'node:buffer';
import { createInterface } from 'node:readline';
import { Transform } from 'node:stream';
import { closed, openDecompressed } from '../decompress.js';

/** What a plain pg_dump file holds, piece by piece, as `readPlainDump` hands it over. */
export type PlainDumpEvent =
  /** One SQL statement, ending with its `;`, and the line it starts on. */
  | { kind: 'statement'; text: string; line: number }
  /** A psql meta-command (`\restrict KEY`, `\connect db`…) on a line of its own. */
  | { kind: 'meta'; command: string; argument: string; line: number }
  /** `COPY … FROM stdin;` begins: data lines follow until `copy-end`. */
  | { kind: 'copy-start'; text: string; line: number }
  /** Data lines of the current COPY, each ending with `\n`, joined (a batch of at most `COPY_BATCH_CHARS`). */
  | { kind: 'copy-data'; data: string }
  | { kind: 'copy-end'; line: number }
  /**
   * One of pg_dump's (and pg_dumpall's) own comment lines that open and close a dump, between
   * statements: `-- PostgreSQL database dump`, `… dump complete`, `-- PostgreSQL database
   * cluster dump`, `… cluster dump complete`. A dump cut at a statement boundary lacks the last.
   */
  | { kind: 'marker'; marker: DumpMarker; line: number };

/** pg_dump's opening and closing comments, as `-- PostgreSQL database <marker>`. */
export type DumpMarker = 'dump' | 'dump complete' | 'cluster dump' | 'cluster dump complete';

const DUMP_MARKER = /^-- PostgreSQL database ((?:cluster )?dump(?: complete)?)\s*$/;

/** COPY data is handed over in batches about this large, so memory stays flat whatever the table's size. */
export const COPY_BATCH_CHARS = 8 * 1024 * 1024;

const COPY_FROM_STDIN = /^COPY\s[\s\S]*\sFROM\s+stdin\s*;\s*$/i;

/** Lexer state carried from one line to the next. */
interface LexState {
  quote: "'" | '"' | null;
  /** Inside E'…', where a backslash escapes the next character. */
  escapes: boolean;
  dollarTag: string | null;
  blockDepth: number;
}

/** The file's bytes are not a plain SQL dump this reader can follow. */
export class PlainDumpError extends Error {
  override readonly name = 'PlainDumpError';
  constructor(
    message: string,
    readonly line: number,
    /** The dump is damaged (cut short, bytes invalid in its encoding), not merely unusual. */
    readonly damaged = false,
  ) {
    super(message);
  }
}

/**
 * Tells a plain dump cut at a statement boundary, which psql and PGlite load without a word:
 * a dump that opens with pg_dump's (or pg_dumpall's) comment must close with the matching
 * `… complete` one, with only comments and `\unrestrict` after it. Hand-written SQL (no
 * opening comment) is not judged.
 */
export class DumpEnding {
  #opened: 'dump' | 'cluster dump' | null = null;
  #closed = false;
  #seenContent = false;
  #lastLine = 0;

  /** Notes an event; false for a marker (nothing else to do with it). */
  see(event: PlainDumpEvent): boolean {
    if (event.kind === 'marker') {
      if (!this.#seenContent && this.#opened === null && !event.marker.endsWith('complete'))
        this.#opened = event.marker as 'dump' | 'cluster dump';
      else if (this.#opened !== null && event.marker === `${this.#opened} complete`)
        this.#closed = true;
      return false;
    }
    if ('line' in event) this.#lastLine = event.line;
    // pg_dumpall closes each database's dump inside its own: only the last closing counts.
    if (event.kind !== 'meta' || (event.command !== 'restrict' && event.command !== 'unrestrict')) {
      this.#closed = false;
      this.#seenContent = true;
    }
    return true;
  }

  /** Throws a damaged `PlainDumpError` when the dump opened as pg_dump's and did not close. */
  check(): void {
    if (this.#opened === null || this.#closed) return;
    const tool = this.#opened === 'cluster dump' ? 'pg_dumpall' : 'pg_dump';
    throw new PlainDumpError(
      `the dump ends after this line, without the '-- PostgreSQL database ${this.#opened} complete' comment ${tool} writes last: it was cut short`,
      this.#lastLine,
      true,
    );
  }
}

/**
 * Passes a dump's bytes through unchanged, failing with a damaged `PlainDumpError` at the
 * first byte that is not UTF-8 when the dump declares `client_encoding` UTF8 (as pg_dump
 * does for a UTF8 database): decoded as text it would load as U+FFFD, a quietly different
 * value, where psql's server refuses it. A dump in another encoding is passed as it is.
 */
export function utf8Guard(): Transform {
  let declared: boolean | null = null;
  let head = '';
  let carry = Buffer.alloc(0);
  let line = 1;
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (declared === null) {
        head += chunk.toString('latin1', 0, Math.min(chunk.length, 65_536));
        const match = /^SET client_encoding = '([^']*)';$/m.exec(head);
        if (match) declared = match[1]?.toUpperCase() === 'UTF8';
        else if (head.length >= 65_536) declared = false;
      }
      if (declared !== true) {
        // Lines are counted until the encoding is known, so a later bad byte's line is right.
        if (declared === null) line += countNewlines(chunk);
        offset += chunk.length;
        callback(null, chunk);
        return;
      }
      const bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      // A character split across chunks is checked whole with the next one.
      const whole = bytes.length - incompleteTail(bytes);
      const checked = bytes.subarray(0, whole);
      carry = Buffer.from(bytes.subarray(whole));
      if (!isUtf8(checked)) {
        const at = firstInvalidUtf8(checked);
        const lineOfByte = line + countNewlines(checked.subarray(0, at));
        callback(
          new PlainDumpError(
            `byte ${offset + at} (line ${lineOfByte}) is not UTF-8, the dump's declared encoding: the dump is damaged`,
            lineOfByte,
            true,
          ),
        );
        return;
      }
      line += countNewlines(checked);
      offset += checked.length;
      callback(null, checked);
    },
    flush(callback) {
      if (carry.length === 0) return callback();
      callback(
        new PlainDumpError(
          `the file ends inside a UTF-8 character at byte ${offset}: the dump is damaged`,
          line,
          true,
        ),
      );
    },
  });
}

/** How many bytes at the end of `bytes` start a UTF-8 character they do not finish (0-3). */
function incompleteTail(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back += 1) {
    const byte = bytes[bytes.length - back] as number;
    if ((byte & 0xc0) !== 0x80) {
      const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
      return needs > back ? back : 0;
    }
  }
  return 0;
}

/** The offset of the first byte of `bytes` that does not start a valid UTF-8 character. */
function firstInvalidUtf8(bytes: Buffer): number {
  let at = 0;
  while (at < bytes.length) {
    const byte = bytes[at] as number;
    const size =
      byte < 0x80 ? 1 : byte < 0xc2 ? 0 : byte < 0xe0 ? 2 : byte < 0xf0 ? 3 : byte < 0xf5 ? 4 : 0;
    if (size === 0 || at + size > bytes.length || !isUtf8(bytes.subarray(at, at + size))) return at;
    at += size;
  }
  return bytes.length;
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, at + 1)) count += 1;
  return count;
}

/**
 * Reads a plain-SQL pg_dump file as a stream of statements, psql meta-commands and COPY
 * data, the way psql would split it: quotes, `E''` escapes, dollar quotes, nested block
 * comments and `--` comments are respected; a line starting with `\` between statements
 * is a meta-command; after `COPY … FROM stdin;` lines are data up to `\.`. Memory holds
 * one statement and one batch of COPY data at a time. A compressed dump is decompressed
 * as it is read; damaged compressed data throws `CompressedDataError` (or zlib's error).
 */
export async function* readPlainDump(
  file: string,
  options: { signal?: AbortSignal | undefined } = {},
): AsyncGenerator<PlainDumpEvent> {
  // gzip, xz, bzip2 and zstd dumps (`pg_dump db | gzip > db.sql.gz`) are read through their decompressor.
  const { stream: decompressed } = await openDecompressed(file, {
    signal: options.signal,
    label: 'dump',
  });
  const guard = utf8Guard();
  decompressed.on('error', (error) => guard.destroy(error));
  const input = decompressed.pipe(guard);
  input.setEncoding('utf8');
  let failure: { error: unknown } | null = null;
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  // The decompressor's complaint (damaged data) ends the reading; it is thrown below.
  input.on('error', (error) => {
    failure ??= { error };
    lines.close();
  });
  const state: LexState = { quote: null, escapes: false, dollarTag: null, blockDepth: 0 };
  let statement = '';
  let statementLine = 0;
  /** True once the statement holds more than whitespace and comments. */
  let content = false;
  let copying = false;
  let batch: string[] = [];
  let batchChars = 0;
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber += 1;
      if (lineNumber % 4096 === 0) options.signal?.throwIfAborted();
      if (copying) {
        if (line === '\\.') {
          if (batch.length > 0) yield { kind: 'copy-data', data: batch.join('') };
          batch = [];
          batchChars = 0;
          copying = false;
          yield { kind: 'copy-end', line: lineNumber };
          continue;
        }
        batch.push(`${line}\n`);
        batchChars += line.length + 1;
        if (batchChars >= COPY_BATCH_CHARS) {
          yield { kind: 'copy-data', data: batch.join('') };
          batch = [];
          batchChars = 0;
        }
        continue;
      }
      if (!content && isBetweenStatements(state) && line.startsWith('\\')) {
        const match = /^\\(\S+)\s*(.*)$/.exec(line);
        yield {
          kind: 'meta',
          command: match?.[1] ?? '',
          argument: (match?.[2] ?? '').trim(),
          line: lineNumber,
        };
        statement = '';
        continue;
      }
      if (!content && isBetweenStatements(state) && line.startsWith('-- PostgreSQL database ')) {
        const marker = DUMP_MARKER.exec(line);
        if (marker) yield { kind: 'marker', marker: marker[1] as DumpMarker, line: lineNumber };
      }
      let firstContent = -1;
      let lastContent = -1;
      const ends = statementEnds(line, state, (at) => {
        if (firstContent < 0) firstContent = at;
        lastContent = at;
      });
      if (!content && firstContent >= 0) statementLine = lineNumber;
      let start = 0;
      for (const end of ends) {
        statement += line.slice(start, end + 1);
        start = end + 1;
        const text = statement.trim();
        statement = '';
        if (COPY_FROM_STDIN.test(stripLeadingComments(text))) {
          copying = true;
          yield { kind: 'copy-start', text, line: statementLine };
          // pg_dump never puts data on the COPY line itself.
          break;
        }
        yield { kind: 'statement', text, line: statementLine };
        // A further statement on this line starts here.
        statementLine = lineNumber;
      }
      content = ends.length === 0 ? content || firstContent >= 0 : lastContent >= start;
      if (copying) {
        content = false;
        continue;
      }
      const rest = line.slice(start);
      if (!content && statement === '' && rest.trim() === '') continue;
      statement += `${rest}\n`;
    }
  } finally {
    lines.close();
    input.destroy();
    decompressed.destroy();
    await closed(decompressed);
  }
  if (failure !== null) throw (failure as { error: unknown }).error;
  if (copying)
    throw new PlainDumpError(
      'the file ends inside COPY data (no \\. line): the dump is truncated',
      lineNumber,
      true,
    );
  if (content)
    throw new PlainDumpError(
      `the file ends inside a statement that starts at line ${statementLine}: the dump is truncated`,
      lineNumber,
      true,
    );
}

function isBetweenStatements(state: LexState): boolean {
  return state.quote === null && state.dollarTag === null && state.blockDepth === 0;
}

/**
 * Offsets of the `;` characters in `line` that end a statement, advancing the lexer
 * state over the line; `onContent` is called when anything but whitespace or a comment is seen.
 */
function statementEnds(line: string, state: LexState, onContent: (at: number) => void): number[] {
  const ends: number[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i] as string;
    if (state.blockDepth > 0) {
      if (c === '*' && line[i + 1] === '/') {
        state.blockDepth -= 1;
        i += 2;
      } else if (c === '/' && line[i + 1] === '*') {
        state.blockDepth += 1;
        i += 2;
      } else i += 1;
      continue;
    }
    if (state.dollarTag !== null) {
      const close = line.indexOf(state.dollarTag, i);
      if (close === -1) return ends;
      i = close + state.dollarTag.length;
      state.dollarTag = null;
      continue;
    }
    if (state.quote !== null) {
      if (state.escapes && c === '\\') {
        i += 2;
        continue;
      }
      if (c === state.quote) {
        // A doubled quote stays inside.
        if (line[i + 1] === state.quote) i += 2;
        else {
          state.quote = null;
          state.escapes = false;
          i += 1;
        }
        continue;
      }
      i += 1;
      continue;
    }
    if (c === '-' && line[i + 1] === '-') return ends;
    if (c === '/' && line[i + 1] === '*') {
      state.blockDepth = 1;
      i += 2;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i += 1;
      continue;
    }
    onContent(i);
    if (c === "'" || c === '"') {
      state.quote = c;
      state.escapes =
        c === "'" && /[Ee]/.test(line[i - 1] ?? '') && !/[A-Za-z0-9_$]/.test(line[i - 2] ?? '');
      i += 1;
      continue;
    }
    if (c === '$' && !/[A-Za-z0-9_$]/.test(line[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(line.slice(i));
      if (tag) {
        state.dollarTag = tag[0];
        i += tag[0].length;
        continue;
      }
    }
    if (c === ';') ends.push(i);
    i += 1;
  }
  return ends;
}

/** The statement without the `--` comment lines and blank lines pg_dump puts before it. */
export function stripLeadingComments(text: string): string {
  return text.replace(/^(?:\s*--[^\n]*(?:\n|$))*\s*/, '');
}
