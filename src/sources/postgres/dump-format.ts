import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeFsError } from '../../scratch/hashing-writer.js';
import { SourceError } from '../../model/restore.js';
import { readPlainDump, stripLeadingComments } from './plain-sql.js';

/** pg_dump's output formats: -Fc, -Fd, -Ft, -Fp. */
export type DumpFormat = 'custom' | 'directory' | 'tar' | 'plain';

/**
 * Tells a dump's format from its bytes, not its name: a folder with `toc.dat` is -Fd, a
 * file starting `PGDMP` is -Fc, a ustar archive is -Ft, anything else is taken as plain
 * SQL. Compressed plain dumps are refused with the reason.
 */
export async function detectDumpFormat(dump: string): Promise<DumpFormat> {
  let info;
  try {
    info = await stat(dump);
  } catch (error) {
    throw new SourceError(`cannot read dump ${dump}: ${describeFsError(error)}`, false, {
      cause: error,
    });
  }
  if (info.isDirectory()) {
    try {
      await stat(path.join(dump, 'toc.dat'));
    } catch {
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
    });
  }
  if (bytesRead === 0) throw new SourceError(`dump ${dump} is empty`);
  const recognised = dumpFormatOfHead(head.subarray(0, bytesRead));
  if (recognised !== null) return recognised;
  if (head[0] === 0x1f && head[1] === 0x8b)
    throw new SourceError(
      `dump ${dump} is gzip-compressed plain SQL; decompress it first or dump with -Fc`,
    );
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])))
    throw new SourceError(
      `dump ${dump} is zstd-compressed plain SQL; decompress it first or dump with -Fc`,
    );
  return 'plain';
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
  const head: PlainDumpHead = { databases: [], leavesTarget: null };
  for await (const event of readPlainDump(dump, options)) {
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
  return head;
}

function unquote(name: string): string {
  return name.startsWith('"')
    ? name.slice(1, -1).replace(/""/g, '"')
    : name.replace(/;$/, '').toLowerCase();
}
