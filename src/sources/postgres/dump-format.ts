import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeFsError, readFailureCode } from '../../scratch/hashing-writer.js';
import { SourceError } from '../../model/restore.js';
import { BackupDamagedError } from '../restore-source.js';
import { closed, compressionOf, openDecompressed } from '../decompress.js';
import { DumpEnding, readPlainDump, stripLeadingComments } from './plain-sql.js';
import { pgDumpMajorOf } from './statement-damage.js';

/** pg_dump's output formats: -Fc, -Fd, -Ft, -Fp. */
export type DumpFormat = 'custom' | 'directory' | 'tar' | 'plain';

/**
 * Tells a dump's format from its bytes, not its name: a folder with `toc.dat` is -Fd, a
 * file starting `PGDMP` is -Fc, a ustar archive is -Ft, anything else is taken as plain
 * SQL. A file compressed with gzip, xz, bzip2 or zstd is a plain dump read through its
 * decompressor; a compressed custom or tar dump is refused with the reason.
 */
export async function detectDumpFormat(dump: string): Promise<DumpFormat> {
  let info;
  try {
    info = await stat(dump);
  } catch (error) {
    throw new SourceError(`cannot read dump ${dump}: ${describeFsError(error)}`, false, {
      cause: error,
      code: readFailureCode(error),
    });
  }
  if (info.isDirectory()) {
    try {
      await stat(path.join(dump, 'toc.dat'));
    } catch {
      if (await holdsTableData(dump)) {
        // pg_dump -Fd writes toc.dat last: without it the dump was cut short or lost its index.
        const detail = 'table data files but no toc.dat (pg_dump -Fd writes it last)';
        throw new BackupDamagedError(`directory-format dump ${dump} is damaged: ${detail}`, {
          detail,
          entry: null,
          offset: null,
        });
      }
      throw new SourceError(
        `folder ${dump} is not a directory-format dump (pg_dump -Fd): it has no toc.dat`,
      );
    }
    return 'directory';
  }
  const head = Buffer.alloc(512);
  let bytesRead = 0;
  try {
    const handle = await open(dump, 'r');
    try {
      ({ bytesRead } = await handle.read(head, 0, head.length, 0));
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new SourceError(`cannot read dump ${dump}: ${describeFsError(error)}`, false, {
      cause: error,
      code: readFailureCode(error),
    });
  }
  // A dump cut off before its first byte (pg_dump killed, a full disk): reached, and nothing restores.
  if (bytesRead === 0)
    throw new BackupDamagedError(`dump ${dump} is empty`, {
      detail: 'the dump is empty (0 bytes)',
      entry: null,
      offset: null,
    });
  const recognised = dumpFormatOfHead(head.subarray(0, bytesRead));
  if (recognised !== null) return recognised;
  const compression = compressionOf(head.subarray(0, bytesRead));
  if (compression !== 'none') {
    // `pg_dump db | gzip`: the format is that of the decompressed bytes.
    const inner = dumpFormatOfHead(await decompressedHead(dump, head.length));
    if (inner === 'custom' || inner === 'tar')
      throw new SourceError(
        `dump ${dump} is a ${inner}-format dump compressed with ${compression}; pg_restore reads it only uncompressed: decompress it first (pg_dump -Fc compresses by itself)`,
      );
  }
  return 'plain';
}

/** A file pg_dump -Fd writes for one table's data: `<dump id>.dat`, compressed or not. */
const TABLE_DATA_FILE = /^\d+\.dat(?:\.gz|\.lz4|\.zst)?$/;

/** Whether `folder` holds any of pg_dump -Fd's table data files; false when it cannot be read. */
export async function holdsTableData(folder: string): Promise<boolean> {
  try {
    return (await readdir(folder)).some((name) => TABLE_DATA_FILE.test(name));
  } catch {
    return false;
  }
}

/** Up to `bytes` decompressed bytes from the start of `dump`; fewer when the data ends or is damaged (a full read reports that). */
async function decompressedHead(dump: string, bytes: number): Promise<Buffer> {
  const { stream } = await openDecompressed(dump, { label: 'dump' });
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= bytes) break;
    }
  } catch {
    // Damage is reported by the full read of the dump, with its place.
  } finally {
    stream.destroy();
    await closed(stream);
  }
  return Buffer.concat(chunks).subarray(0, bytes);
}

/**
 * The format a file's first bytes (at least 512 for tar) show it to be: `PGDMP` is -Fc, a
 * ustar header -Ft, pg_dump's opening comment plain SQL; null when they show none of these.
 */
export function dumpFormatOfHead(head: Buffer): Exclude<DumpFormat, 'directory'> | null {
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'custom';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  if (head.toString('latin1', 0, 64).startsWith('--\n-- PostgreSQL database dump')) return 'plain';
  return null;
}

/** What a plain dump says about where it would restore. */
export interface PlainDumpHead {
  /** Databases the dump would create, drop or alter (`--create`, `--clean` dumps). */
  databases: string[];
  /** The first statement or meta-command that would leave the target database, if any. */
  leavesTarget: { line: number; what: string } | null;
  /** The major version of the pg_dump that wrote it, from its header comment. */
  pgDumpMajor: number | null;
}

const DATABASE_STATEMENT =
  /^(CREATE|DROP|ALTER)\s+DATABASE\s+(?:IF\s+EXISTS\s+)?("(?:[^"]|"")+"|[^\s;]+)/i;

/**
 * Reads a whole plain dump (COPY data is only skimmed for its end marker) and reports
 * what would take a restore out of the scratch database: `\connect` or any other
 * meta-command psql would obey, CREATE/DROP/ALTER DATABASE. Such a dump is never run:
 * psql cannot be told to ignore meta-commands, so they are looked for everywhere.
 */
export async function inspectPlainDump(
  dump: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<PlainDumpHead> {
  const head: PlainDumpHead = { databases: [], leavesTarget: null, pgDumpMajor: null };
  let statements = 0;
  const ending = new DumpEnding();
  for await (const event of readPlainDump(dump, options)) {
    if (!ending.see(event)) continue;
    // pg_dump's header comment leads its first statement (after a `\restrict` line).
    if (event.kind === 'statement' && statements++ === 0)
      head.pgDumpMajor = pgDumpMajorOf(event.text);
    if (event.kind === 'meta') {
      if (event.command === 'restrict' || event.command === 'unrestrict') continue;
      head.leavesTarget ??= {
        line: event.line,
        what: `\\${event.command}${event.argument ? ` ${event.argument}` : ''}`,
      };
      if (event.command === 'connect' || event.command === 'c') {
        const target = event.argument.split(/\s+/)[0];
        if (target) head.databases.push(unquote(target));
      }
      continue;
    }
    if (event.kind !== 'statement') continue;
    const match = DATABASE_STATEMENT.exec(stripLeadingComments(event.text));
    if (match) {
      head.databases.push(unquote(match[2] as string));
      head.leavesTarget ??= {
        line: event.line,
        what: `${(match[1] as string).toUpperCase()} DATABASE`,
      };
    }
  }
  ending.check();
  return head;
}

function unquote(name: string): string {
  return name.startsWith('"')
    ? name.slice(1, -1).replace(/""/g, '"')
    : name.replace(/;$/, '').toLowerCase();
}
