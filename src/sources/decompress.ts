import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { describeExit, lastLine, streamCommand } from '../exec/run-command.js';
import type { ExecRecord } from '../model/exec-record.js';
import { SourceError } from '../model/restore.js';
import { describeFsError, readFailureCode } from '../scratch/hashing-writer.js';

/** Compressions a backup file may carry, told by its first bytes (never by its name). */
export type Compression = 'none' | 'gzip' | 'xz' | 'bzip2' | 'zstd';

/** Whether `error` is the decompressor saying the data is damaged (a tool's complaint, or zlib's). */
export function isCompressedDataError(error: unknown): boolean {
  if (error instanceof CompressedDataError) return true;
  const zlib = error as NodeJS.ErrnoException | undefined;
  return zlib?.code?.startsWith('Z_') === true;
}

/** How many leading bytes `compressionOf` needs. */
export const MAGIC_BYTES = 6;

/** The compression a file's first bytes show. */
export function compressionOf(magic: Buffer): Compression {
  if (magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (magic.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (magic.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (magic.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return 'none';
}

/** Compressions told by their first bytes that restore-drill does not read: an error, not damage. */
function unsupportedCompressionOf(magic: Buffer): string | null {
  if (magic.subarray(0, 4).equals(Buffer.from([0x04, 0x22, 0x4d, 0x18]))) return 'lz4';
  if (magic.subarray(0, 4).toString('latin1') === 'LZIP') return 'lzip';
  if (magic[0] === 0x1f && magic[1] === 0x9d) return 'compress (.Z)';
  // lzma-alone: the usual properties byte, then a dictionary size that is a power of two.
  if (magic[0] === 0x5d && magic[1] === 0x00 && magic[2] === 0x00) return 'lzma';
  return null;
}

/** The standard tool that decompresses each kind (gzip stays in Node's zlib), and the package that has it. */
const TOOLS: Record<Exclude<Compression, 'none' | 'gzip'>, { binary: string; pkg: string }> = {
  xz: { binary: 'xz', pkg: 'xz-utils' },
  bzip2: { binary: 'bzip2', pkg: 'bzip2' },
  zstd: { binary: 'zstd', pkg: 'zstd' },
};

/**
 * The compressed data is damaged: the decompressor (zlib, or the tool's non-zero exit)
 * said so. `detail` is its one-line complaint; `record` the tool's run, when a tool ran.
 */
export class CompressedDataError extends Error {
  override readonly name = 'CompressedDataError';
  constructor(
    readonly compression: Compression,
    readonly detail: string,
    readonly record: ExecRecord | null,
    options?: ErrorOptions,
  ) {
    super(`corrupt ${compression} data (${detail})`, options);
  }
}

/** A file opened for reading, decompressed as it is read. */
export interface DecompressedFile {
  compression: Compression;
  /**
   * The file's bytes, decompressed; it errors with `CompressedDataError` when the data
   * is damaged. Destroying it stops the decompressor at once; it emits `close` only once
   * the decompressor has exited (`closed` waits for that).
   */
  stream: Readable;
}

/**
 * Opens `file` and decompresses it as a stream, whatever its compression (read from its
 * first bytes): none and gzip in-process, xz, bzip2 and zstd through `xz -dc`,
 * `bzip2 -dc`, `zstd -dc`. Memory stays flat: the tool's output is read with
 * back-pressure. An unreadable file or a decompressor that cannot start is a
 * `SourceError` naming the file (and the tool, and what to install).
 */
export async function openDecompressed(
  file: string,
  options: {
    signal?: AbortSignal | undefined;
    chunkBytes?: number | undefined;
    /** What the file is, for messages: `cannot read <label> <file>: …`. */
    label: string;
  },
): Promise<DecompressedFile> {
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const what = `${options.label} ${file}`;
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new SourceError(`cannot read ${what}: ${describeFsError(error)}`, false, {
      cause: error,
      code: readFailureCode(error),
    });
  }
  let magic: Buffer;
  try {
    const head = Buffer.alloc(MAGIC_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    magic = head.subarray(0, bytesRead);
  } catch (error) {
    await handle.close();
    throw new SourceError(`cannot read ${what}: ${describeFsError(error)}`, false, {
      cause: error,
      code: readFailureCode(error),
    });
  }
  const unsupported = unsupportedCompressionOf(magic);
  if (unsupported !== null) {
    await handle.close();
    throw new SourceError(
      `cannot read ${what}: it is ${unsupported}-compressed, which restore-drill does not read; decompress it, or compress it with gzip, xz, bzip2 or zstd`,
    );
  }
  const compression = compressionOf(magic);
  if (compression === 'none' || compression === 'gzip') {
    const input = handle.createReadStream({ start: 0, highWaterMark: chunkBytes });
    if (compression === 'none') return { compression, stream: input };
    const gunzip = createGunzip({ chunkSize: chunkBytes });
    gunzip.on('error', (error: NodeJS.ErrnoException) => {
      // The file starts with gzip's magic, so zlib's bad magic can only be bytes after a member.
      if (error.code === 'Z_DATA_ERROR' && error.message === 'incorrect header check')
        error.message = 'bytes after the end of the gzip stream are not gzip: trailing garbage';
    });
    input.on('error', (error) => gunzip.destroy(error));
    gunzip.on('close', () => input.destroy());
    return { compression, stream: input.pipe(gunzip) };
  }
  // The tool opens the file itself; ours was only for the magic bytes.
  await handle.close();
  return {
    compression,
    stream: await toolStream(file, what, compression, options.signal, chunkBytes),
  };
}

async function toolStream(
  file: string,
  what: string,
  compression: keyof typeof TOOLS,
  signal: AbortSignal | undefined,
  chunkBytes: number,
): Promise<Readable> {
  const tool = TOOLS[compression];
  const args = compression === 'zstd' ? ['-dcq', '--', file] : ['-dc', '--', file];
  const command = await streamCommand(tool.binary, args, { signal });
  if (!command.started) {
    const record = await command.finished;
    throw new SourceError(
      `cannot read ${what}: it is ${compression}-compressed and ${tool.binary} cannot be run (${lastLine(record.stderrTail)}); install ${tool.pkg}`,
      false,
      { commands: [record] },
    );
  }
  let exited = false;
  void command.finished.then(() => (exited = true));
  const stop = (): void => {
    if (!exited) command.stop();
  };
  // A generator, so the tool's complaint comes after every byte it wrote has been read.
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of command.stdout as AsyncIterable<Buffer>) yield chunk;
      const record = await command.finished;
      if (record.exitCode === 0) return;
      if (record.canceled) throw signal?.reason ?? new Error('canceled');
      if (record.timedOut || record.signal !== null)
        throw new Error(`${tool.binary} ${describeExit(record)}`);
      throw new CompressedDataError(
        compression,
        `${tool.binary}: ${toolComplaint(record, tool.binary, file)}`,
        record,
      );
    } finally {
      // No decompressor outlives its reader: the stream closes once the tool has exited.
      stop();
      await command.finished;
    }
  }
  const output = Readable.from(chunks(), { objectMode: false, highWaterMark: chunkBytes });
  const destroy = output._destroy.bind(output);
  // Stopped at once, not when the generator next yields.
  output._destroy = (error, callback) => {
    stop();
    command.stdout.destroy();
    destroy(error, callback);
  };
  return output;
}

/**
 * The tool's one-line complaint, its first line of stderr (bzip2 adds advice after it)
 * without the tool's and the file's name in front (the message names the file).
 */
function toolComplaint(record: ExecRecord, binary: string, file: string): string {
  const first = record.stderrTail.split('\n').find((line) => line.trim() !== '') ?? '';
  let line = first.trim();
  if (line.startsWith(`${binary}:`)) line = line.slice(binary.length + 1).trim();
  // xz and bzip2 print the path; zstd the end of it, then ` : `.
  const named = /^(.*?)\s?:\s(.*)$/.exec(line);
  if (named && named[1] !== '' && file.endsWith(named[1] as string)) line = named[2] as string;
  line = line.replace(/[;\s]+$/, '');
  return line || `exit code ${record.exitCode}`;
}

/**
 * Reads the whole of a compressed file only to see whether the decompressor accepts it:
 * its complaint when the data is damaged, null when it is whole (or not compressed).
 * For telling a parser's error on garbage apart from damage the decompressor would
 * report only at the end of a block.
 */
export async function compressedDamage(
  file: string,
  signal: AbortSignal | undefined,
): Promise<Error | null> {
  let opened;
  try {
    opened = await openDecompressed(file, { signal, label: 'file' });
  } catch {
    return null;
  }
  if (opened.compression === 'none') {
    opened.stream.destroy();
    return null;
  }
  try {
    for await (const chunk of opened.stream) void chunk;
    return null;
  } catch (error) {
    return isCompressedDataError(error) ? (error as Error) : null;
  }
}

/** Resolves once `stream` has closed (a decompressor behind it has exited). */
export function closed(stream: Readable): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}
