import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Finding } from '../model/check-result.js';
import { formatLsn, parseLsn, segmentName } from './lsn.js';
import { readWalRecords } from './wal-records.js';

/** One entry of a backup_manifest's "WAL-Ranges": the WAL a restore of the backup needs. */
export const walRangeSchema = z.object({
  Timeline: z.number().int().positive(),
  'Start-LSN': z
    .string()
    .regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'expected an LSN like 0/2000028'),
  'End-LSN': z
    .string()
    .regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'expected an LSN like 0/2000100'),
});
export type WalRange = z.infer<typeof walRangeSchema>;

/** PostgreSQL's default WAL segment size, when no segment is there to read it from. */
const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;
/** Where a WAL segment's long page header keeps the segment size (`xlp_seg_size`). */
const SEGMENT_SIZE_OFFSET = 32;
const WAL_FILE = /^[0-9A-F]{24}$/;

/** Every segment a range needs, first to last (its end LSN is where the last record ends). */
export function segmentsOf(range: WalRange, segmentBytes: number): string[] {
  const start = parseLsn(range['Start-LSN']) / BigInt(segmentBytes);
  const endLsn = parseLsn(range['End-LSN']);
  const end = (endLsn > 0n ? endLsn - 1n : 0n) / BigInt(segmentBytes);
  const names: string[] = [];
  for (let segment = start; segment <= end && names.length < 100_000; segment++)
    names.push(segmentName(range.Timeline, segment * BigInt(segmentBytes), segmentBytes));
  return names;
}

/** The segment size a restored pg_wal/ was written with, read from one of its segments. */
async function segmentBytesIn(walDir: string, files: readonly string[]): Promise<number> {
  for (const name of files) {
    const handle = await open(join(walDir, name), 'r').catch(() => null);
    if (handle === null) continue;
    try {
      const header = Buffer.alloc(SEGMENT_SIZE_OFFSET + 4);
      const { bytesRead } = await handle.read(header, 0, header.length, 0);
      if (bytesRead < header.length) continue;
      const size = header.readUInt32LE(SEGMENT_SIZE_OFFSET);
      // A power of two from 1 MB to 1 GB, as initdb --wal-segsize allows; else not a header.
      if (size >= 1 << 20 && size <= 1 << 30 && (size & (size - 1)) === 0) return size;
    } finally {
      await handle.close();
    }
  }
  return DEFAULT_SEGMENT_BYTES;
}

/** What the WAL check found: a finding per missing segment or damaged range, and the records read whole. */
export interface WalVerification {
  findings: Finding[];
  records: number;
}

/**
 * The WAL a backup_manifest says a restore needs, looked for in the restored `pg_wal/`: a
 * backup without it (taken with `-X none`, or its WAL lost) does not start, however whole its
 * files are (PostgreSQL: "could not locate required checkpoint record"). One finding per
 * missing segment, each naming the range that needs it. A range whose segments are all there
 * is parsed record by record, as pg_verifybackup has pg_waldump do: one finding for its first
 * damaged page or record (`damaged-wal`), at which recovery would stop as well.
 */
export async function verifyWal(
  restoredRoot: string,
  ranges: readonly WalRange[],
  options: { signal?: AbortSignal | undefined } = {},
): Promise<WalVerification> {
  const walDir = join(restoredRoot, 'pg_wal');
  const present = (await readdir(walDir).catch(() => [] as string[])).filter((name) =>
    WAL_FILE.test(name),
  );
  const segmentBytes = await segmentBytesIn(walDir, present);
  const have = new Set(present);
  const findings: Finding[] = [];
  let records = 0;
  for (const range of ranges) {
    const needed = `timeline ${range.Timeline} ${range['Start-LSN']}–${range['End-LSN']}`;
    const missing = segmentsOf(range, segmentBytes).filter((name) => !have.has(name));
    for (const name of missing)
      findings.push({
        item: `pg_wal/${name}`,
        problem: 'missing-wal',
        expected: { walRange: needed },
        actual: null,
      });
    // Its missing segments say already that the range cannot be read.
    if (missing.length > 0) continue;
    const span = {
      timeline: range.Timeline,
      start: parseLsn(range['Start-LSN']),
      end: parseLsn(range['End-LSN']),
      segmentBytes,
    };
    const reading = await readWalRecords(walDir, span, options);
    records += reading.records;
    if (reading.damage !== null)
      findings.push({
        item: `pg_wal/${reading.damage.segment}`,
        problem: 'damaged-wal',
        expected: { walRange: needed },
        actual: `${reading.damage.problem} at LSN ${formatLsn(reading.damage.lsn)}`,
      });
  }
  return { findings, records };
}
