import { copyFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { formatLsn, parseLsn, segmentName } from '../../src/manifest/lsn.js';
import { readWalRecords, type WalSpan } from '../../src/manifest/wal-records.js';
import { startScratchServer, type ScratchServer } from '../helpers/pg-basebackup.js';
import { tempDir } from '../helpers/temp.js';

let server: ScratchServer;
let walDir: string;
let span: WalSpan;
let pageBytes: number;
/** Where the 100 kB logical message ends: it spans a dozen pages. */
let messageEnd: bigint;

/** A page wholly inside the 100 kB message: all of it continues that record. */
function pageInsideMessage(): bigint {
  const inside = messageEnd - 50_000n;
  return inside - (inside % BigInt(pageBytes));
}

beforeAll(async () => {
  server = await startScratchServer();
  walDir = join(server.dir, 'data', 'pg_wal');
  pageBytes = Number(await server.sql('show wal_block_size'));
  const segmentBytes = Number(
    await server.sql("select pg_size_bytes(current_setting('wal_segment_size'))"),
  );
  await server.sql('create table wide (id int, body text)');
  // Stored as is, not compressed: rows of 4.8 kB make records of several kB.
  await server.sql('alter table wide alter body set storage external');
  await server.sql(
    'insert into wide select i, repeat(md5(i::text), 150) from generate_series(1, 500) i',
  );
  // Before the start, not within: a checkpoint recycles the segments before its redo point.
  await server.sql('checkpoint');
  const start = parseLsn(await server.sql('select pg_current_wal_insert_lsn()'));
  // The first change to each page after a checkpoint logs the whole page (8 kB, across pages).
  await server.sql('update wide set id = id + 1');
  messageEnd = parseLsn(
    await server.sql("select pg_logical_emit_message(false, 'drill', repeat('x', 100000))"),
  );
  await server.sql('select pg_switch_wal()');
  // 17 MB of 1 MB records: one of them continues into the next segment.
  await server.sql(
    "select pg_logical_emit_message(false, 'drill', repeat('y', 1000000)) from generate_series(1, 17)",
  );
  await server.sql(
    'insert into wide select i, repeat(md5(i::text), 150) from generate_series(1, 50) i',
  );
  // Ends with a switch record, and flushes everything before it.
  const end = parseLsn(await server.sql('select pg_switch_wal()'));
  span = { timeline: 1, start, end, segmentBytes };
});
afterAll(async () => {
  await server?.stop();
});

/** The reference: pg_waldump over the same WAL (a server tool, for the tests only). */
async function waldump(dir: string, from: bigint, to: bigint): Promise<{ lsn: bigint }[]> {
  const bin = await runCommand('pg_config', ['--bindir']);
  const result = await runCommand(
    join(bin.stdout.trim(), 'pg_waldump'),
    ['--path', dir, '--timeline', '1', '--start', formatLsn(from), '--end', formatLsn(to)],
    { keepStdout: true },
  );
  expect(result.exitCode, result.stderrTail).toBe(0);
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('rmgr:'))
    .map((line) => ({ lsn: parseLsn(/ lsn: ([0-9A-F]+\/[0-9A-F]+),/.exec(line)![1]!) }));
}

describe('readWalRecords on the WAL of a real server', () => {
  test('reads every record pg_waldump reads, across pages, segments and a switch, and finds nothing wrong', async () => {
    const segments = (span.end - span.start) / BigInt(span.segmentBytes);
    expect(segments).toBeGreaterThanOrEqual(1n);
    const expected = await waldump(walDir, span.start, span.end);
    expect(expected.length).toBeGreaterThan(1000);
    expect(await readWalRecords(walDir, span)).toEqual({ records: expected.length, damage: null });
  });

  test('starts after the page header and the rest of a record begun before, as pg_waldump does', async () => {
    const page = pageInsideMessage();
    for (const start of [page, page + 8n]) {
      const expected = await waldump(walDir, start, span.end);
      expect(expected[0]!.lsn).toBeGreaterThanOrEqual(messageEnd);
      expect(await readWalRecords(walDir, { ...span, start })).toEqual({
        records: expected.length,
        damage: null,
      });
    }
  });
});

describe('readWalRecords on damaged WAL', () => {
  let copy: string;
  let records: { lsn: bigint }[];
  /** The 100 kB message, and a page in its middle. */
  let message: bigint;
  let page: bigint;
  beforeAll(async () => {
    copy = await tempDir('restore-drill-wal-');
    const first = span.start / BigInt(span.segmentBytes);
    for (let segment = first; segment * BigInt(span.segmentBytes) < span.end; segment++) {
      const name = segmentName(1, segment * BigInt(span.segmentBytes), span.segmentBytes);
      await copyFile(join(walDir, name), join(copy, name));
    }
    records = await waldump(copy, span.start, span.end);
    const at = records.findIndex((record) => record.lsn >= messageEnd) - 1;
    message = records[at]!.lsn;
    page = pageInsideMessage();
  });

  /** Writes `bytes` at `lsn` of the copy, reads the span, and puts the bytes back. */
  async function readWith(lsn: bigint, bytes: Buffer | ((old: Buffer) => Buffer)) {
    const name = segmentName(1, lsn, span.segmentBytes);
    const offset = Number(lsn % BigInt(span.segmentBytes));
    const handle = await open(join(copy, name), 'r+');
    try {
      const length = typeof bytes === 'function' ? 1 : bytes.length;
      const old = Buffer.alloc(length);
      await handle.read(old, 0, length, offset);
      await handle.write(typeof bytes === 'function' ? bytes(old) : bytes, 0, length, offset);
      try {
        return await readWalRecords(copy, span);
      } finally {
        await handle.write(old, 0, length, offset);
      }
    } finally {
      await handle.close();
    }
  }
  const flip = (old: Buffer): Buffer => Buffer.from([old[0]! ^ 0x01]);
  const uint32 = (value: number): Buffer => {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(value);
    return bytes;
  };

  test('names the record whose data has a flipped byte: its CRC does not match', async () => {
    const reading = await readWith(page + 100n, flip);
    expect(reading.damage).toEqual({
      segment: segmentName(1, message, span.segmentBytes),
      lsn: message,
      problem: 'record CRC mismatch',
    });
    expect(reading.records).toBe(records.findIndex((record) => record.lsn === message));
  });

  test('names a page whose address is not its own, as a recycled segment shows', async () => {
    const reading = await readWith(page + 8n, Buffer.alloc(8));
    expect(reading.damage).toMatchObject({
      lsn: page,
      problem: `page address 0/0 where ${formatLsn(page)} was expected`,
    });
  });

  test('names a record length shorter than a record header', async () => {
    const reading = await readWith(message, uint32(3));
    expect(reading.damage).toMatchObject({
      lsn: message,
      problem: 'record length 3 is shorter than a record header',
    });
  });

  test('names a prev-link that does not point at the record before', async () => {
    // One whose header is whole on its page, so that xl_prev is where the test writes.
    const at = records.findIndex(
      ({ lsn }, index) => index > records.length / 2 && lsn % BigInt(pageBytes) <= pageBytes - 24,
    );
    const { lsn } = records[at]!;
    const reading = await readWith(lsn + 8n, Buffer.alloc(8));
    expect(reading.damage).toMatchObject({
      lsn,
      problem: `xl_prev 0/0 does not point at the previous record ${formatLsn(records[at - 1]!.lsn)}`,
    });
  });

  test('names a page that does not say it continues the record it holds the rest of', async () => {
    const reading = await readWith(page + 2n, (old) => Buffer.from([old[0]! & ~0x01]));
    expect(reading.damage).toMatchObject({
      lsn: page,
      problem: `missing continuation of the record at ${formatLsn(message)}`,
    });
  });

  test('does not judge bytes after the end of the range', async () => {
    expect(await readWith(span.end + 100n, Buffer.from('garbage'))).toEqual({
      records: records.length,
      damage: null,
    });
  });
});
