import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SourceError, type BackupDamage } from '../../model/restore.js';
import { describeFsError, readFailureCode } from '../../scratch/hashing-writer.js';
import type { ArchiveToc } from './pg-tools.js';

/**
 * pg_restore takes a table's data that ends between two rows without a word: COPY keeps the
 * rows it got, the restore exits 0 and the table is quietly short. pg_dump ends every table's
 * COPY data with a `\.` line (`\.\n\n\n`), in a directory dump's `N.dat` files and a tar dump's
 * `N.dat` members alike, so data without it was cut short; and a tar dump whose member runs
 * past the end of the file was cut. Compressed `N.dat.gz` (and lz4, zstd) files carry their
 * own check, which pg_restore reports. Data written as INSERT statements (`--inserts`) has no
 * end line and is not judged here.
 */

/** The tail read to find the end line: `\n\.` plus the newlines after it, with room to spare. */
const TAIL_BYTES = 64;
const TAR_BLOCK = 512;

/** Damage in the table data of a directory or tar dump, or null when every table's data is whole. */
export async function findArchiveDataDamage(
  dump: string,
  format: 'directory' | 'tar',
  toc: ArchiveToc,
): Promise<BackupDamage | null> {
  // `3352; 0 16390 TABLE DATA public orders owner`: the data is in 3352.dat.
  const tables = new Map(
    toc.tableData.map((entry) => [`${entry.line.split(';')[0]}.dat`, entry.name]),
  );
  if (tables.size === 0) return null;
  return format === 'directory' ? directoryDamage(dump, tables) : tarDamage(dump, tables);
}

/** Reading a dump's file failed (not damage: the drill could not judge it), naming the file. */
function unreadable(file: string, error: unknown): SourceError {
  return new SourceError(
    `cannot read ${file} to check its table data: ${describeFsError(error)}`,
    false,
    { cause: error, code: readFailureCode(error) },
  );
}

async function directoryDamage(
  dir: string,
  tables: ReadonlyMap<string, string>,
): Promise<BackupDamage | null> {
  for (const [file, table] of tables) {
    // A compressed or missing file is pg_restore's to judge.
    const handle = await open(path.join(dir, file), 'r').catch(() => null);
    if (handle === null) continue;
    try {
      const { size } = await handle.stat();
      const cut = await cutShort(handle, 0, size);
      if (cut) return { detail: `${file} ${cut}`, entry: `table ${table}`, offset: null };
    } catch (error) {
      throw unreadable(path.join(dir, file), error);
    } finally {
      await handle.close();
    }
  }
  return null;
}

async function tarDamage(
  file: string,
  tables: ReadonlyMap<string, string>,
): Promise<BackupDamage | null> {
  const handle = await open(file, 'r').catch((error: unknown) => {
    throw unreadable(file, error);
  });
  try {
    const { size: fileSize } = await handle.stat();
    const header = Buffer.alloc(TAR_BLOCK);
    for (let offset = 0; offset + TAR_BLOCK <= fileSize;) {
      await readAt(handle, header, offset);
      if (header.every((byte) => byte === 0)) return null; // the end-of-archive blocks
      if (!checksumMatches(header))
        return {
          detail: `the tar header at byte ${offset} is damaged (its checksum does not match)`,
          entry: null,
          offset,
        };
      const name = field(header, 0, 100);
      const size = sizeOf(header);
      const table = tables.get(name);
      const dataStart = offset + TAR_BLOCK;
      if (!Number.isSafeInteger(size) || size < 0)
        return { detail: `member ${name} has no valid size`, entry: null, offset };
      if (dataStart + size > fileSize)
        return {
          detail: `the file ends inside member ${name}: ${fileSize - dataStart} of its ${size} bytes are there (cut short)`,
          entry: table === undefined ? name : `table ${table}`,
          offset: fileSize,
        };
      if (table !== undefined) {
        const cut = await cutShort(handle, dataStart, size);
        if (cut) return { detail: `member ${name} ${cut}`, entry: `table ${table}`, offset };
      }
      offset = dataStart + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    }
    // Cut at a member's end: pg_restore names the members it cannot find.
    return null;
  } catch (error) {
    throw unreadable(file, error);
  } finally {
    await handle.close();
  }
}

/** Why the COPY data at [start, start + size) was cut short, or null when it ends with its `\.` line. */
async function cutShort(handle: FileHandle, start: number, size: number): Promise<string | null> {
  if (size === 0) return null;
  const head = Buffer.alloc(Math.min(size, 12));
  await readAt(handle, head, start);
  if (head.toString('latin1') === 'INSERT INTO ') return null;
  const tail = Buffer.alloc(Math.min(size, TAIL_BYTES));
  await readAt(handle, tail, start + size - tail.length);
  const text = tail.toString('latin1').replace(/\n+$/, '');
  if (text === '\\.' || text.endsWith('\n\\.')) return null;
  // An --inserts dump's empty table: newlines alone.
  if (text === '' && tail.length === size) return null;
  return 'ends without the \\. line that closes its COPY data: the data was cut short';
}

async function readAt(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
  if (bytesRead !== buffer.length) throw new Error(`short read at byte ${position}`);
}

/** The size field: octal, or base-256 (first byte 0x80) for members of 8 GiB and more. */
function sizeOf(header: Buffer): number {
  if ((header[124]! & 0x80) === 0) return Number.parseInt(field(header, 124, 12).trim() || '0', 8);
  let size = 0;
  for (let index = 125; index < 136; index++) size = size * 256 + header[index]!;
  return size;
}

/** A NUL-terminated header field. */
function field(header: Buffer, start: number, length: number): string {
  const bytes = header.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? length : end).toString('utf8');
}

/** The header's checksum: the sum of its bytes with the checksum field read as spaces. */
function checksumMatches(header: Buffer): boolean {
  const stored = Number.parseInt(field(header, 148, 8).trim(), 8);
  let sum = 0;
  for (let index = 0; index < TAR_BLOCK; index++)
    sum += index >= 148 && index < 156 ? 0x20 : header[index]!;
  return sum === stored;
}
