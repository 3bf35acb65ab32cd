import { createReadStream } from 'node:fs';

/** Longest line kept: far beyond PATH_MAX plus a digest, small enough to keep memory flat. */
/** Reads go in 1 MiB chunks: few syscalls, little memory. */
export const READ_CHUNK_BYTES = 1024 * 1024;

export const MAX_LINE_BYTES = 64 * 1024;

/**
 * One line of a text file: its 1-based number, its text and its bytes (for names, which
 * are bytes), or a note that it was too long to keep (with its first bytes).
 */
export type Line =
  | { number: number; text: string; bytes: Buffer; tooLong?: false }
  | { number: number; text: string; bytes: Buffer; tooLong: true };

const NEWLINE = 0x0a;
const CR = 0x0d;

function decode(line: Buffer): { text: string; bytes: Buffer } {
  // A trailing CR is a Windows line ending, not part of the entry.
  const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
  const bytes = line.subarray(0, end);
  return { text: bytes.toString('utf8'), bytes };
}

/**
 * Reads a file line by line, splitting on LF only (a lone CR can be part of a file
 * name), dropping one trailing CR, decoding UTF-8. Memory stays at one line: a line
 * over MAX_LINE_BYTES is reported by its first bytes with `tooLong` and skipped.
 */
export async function* readLines(
  path: string,
  options: { signal?: AbortSignal | undefined } = {},
): AsyncGenerator<Line> {
  const stream = createReadStream(path, {
    highWaterMark: READ_CHUNK_BYTES,
    signal: options.signal,
  });
  let parts: Buffer[] = [];
  let partBytes = 0;
  let tooLong = false;
  let number = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      const piece = chunk.subarray(start, end === -1 ? chunk.length : end);
      if (!tooLong) {
        if (partBytes + piece.length > MAX_LINE_BYTES) {
          tooLong = true;
          parts.push(piece.subarray(0, MAX_LINE_BYTES - partBytes));
        } else parts.push(piece);
        partBytes += piece.length;
      }
      if (end === -1) break;
      number += 1;
      const line = decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
      yield tooLong ? { number, ...line, tooLong: true } : { number, ...line };
      parts = [];
      partBytes = 0;
      tooLong = false;
      start = end + 1;
    }
  }
  if (partBytes > 0) {
    number += 1;
    const line = decode(Buffer.concat(parts));
    yield tooLong ? { number, ...line, tooLong: true } : { number, ...line };
  }
}
