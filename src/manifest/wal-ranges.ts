import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Finding } from '../model/check-result.js';

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

function lsnOf(text: string): bigint {
  const [high, low] = text.split('/') as [string, string];
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** The segment file name holding `lsn` on `timeline` (`000000010000000000000002`). */
export function segmentName(timeline: number, lsn: bigint, segmentBytes: number): string {
  const segment = lsn / BigInt(segmentBytes);
  const perId = 0x1_0000_0000n / BigInt(segmentBytes);
  const hex = (value: bigint | number): string => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segment / perId)}${hex(segment % perId)}`;
}

/** Every segment a range needs, first to last (its end LSN is where the last record ends). */
export function segmentsOf(range: WalRange, segmentBytes: number): string[] {
  const start = lsnOf(range['Start-LSN']) / BigInt(segmentBytes);
  const endLsn = lsnOf(range['End-LSN']);
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

/**
 * The WAL a backup_manifest says a restore needs, looked for in the restored `pg_wal/`: a
 * backup without it (taken with `-X none`, or its WAL lost) does not start, however whole its
 * files are (PostgreSQL: "could not locate required checkpoint record"). One finding per
 * missing segment, each naming the range that needs it.
 */
export async function missingWal(
  restoredRoot: string,
  ranges: readonly WalRange[],
): Promise<Finding[]> {
  const walDir = join(restoredRoot, 'pg_wal');
  const present = (await readdir(walDir).catch(() => [] as string[])).filter((name) =>
    WAL_FILE.test(name),
  );
  const segmentBytes = await segmentBytesIn(walDir, present);
  const have = new Set(present);
  const findings: Finding[] = [];
  for (const range of ranges) {
    const needed = `timeline ${range.Timeline} ${range['Start-LSN']}–${range['End-LSN']}`;
    for (const name of segmentsOf(range, segmentBytes))
      if (!have.has(name))
        findings.push({
          item: `pg_wal/${name}`,
          problem: 'missing-wal',
          expected: { walRange: needed },
          actual: null,
        });
  }
  return findings;
}
