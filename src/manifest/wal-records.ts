import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from './crc32c.js';
import { formatLsn, segmentName } from './lsn.js';

// Layouts of PostgreSQL 10–17 (access/xlog_internal.h, access/xlogrecord.h), all little-endian.
const SHORT_PAGE_HEADER = 24;
const LONG_PAGE_HEADER = 40;
const RECORD_HEADER = 24;
/** Where xl_crc sits in a record header: the CRC covers the header up to it, after the record's data. */
const CRC_OFFSET = 20;
const XLP_FIRST_IS_CONTRECORD = 0x1;
const XLP_LONG_HEADER = 0x2;
/** Set on the page after a record a crash left unfinished: that record is abandoned, not damage. */
const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x8;
const RM_XLOG_ID = 0;
const XLOG_SWITCH = 0x40;
/** PostgreSQL's XLogRecordMaxSize: it writes no longer record. */
const MAX_RECORD_BYTES = 1020 * 1024 * 1024;
/** Records start on 8-byte boundaries (MAXALIGN). */
const ALIGN = 8;
/** How much of a segment is read at once: 128 pages of 8 kB, not the whole segment. */
const READ_BYTES = 1024 * 1024;

/** The WAL one range of a backup_manifest needs: the records starting in [start, end) on `timeline`. */
export interface WalSpan {
  timeline: number;
  start: bigint;
  end: bigint;
  segmentBytes: number;
}

/** Where the WAL of a span is first damaged, and what is wrong there. */
export interface WalDamage {
  segment: string;
  lsn: bigint;
  problem: string;
}

/** What reading a span found: how many records are whole, and the damage that stopped the reading, if any. */
export interface WalReading {
  records: number;
  damage: WalDamage | null;
}

/** Damage at `lsn`: past it the WAL cannot be parsed safely, so it ends the reading. */
class DamageFound extends Error {
  constructor(
    readonly lsn: bigint,
    problem: string,
  ) {
    super(problem);
  }
}

/** One WAL page with its header's fields; `bytes` is valid until the next page is asked for. */
interface WalPage {
  lsn: bigint;
  bytes: Buffer;
  info: number;
  /** xlp_rem_len: how many bytes of a record begun on an earlier page this page holds first. */
  remainingBytes: number;
  headerBytes: number;
}

const maxAlign = (offset: number): number => Math.ceil(offset / ALIGN) * ALIGN;

/**
 * The pages of a span's segments in restored pg_wal/, asked for in order and read a bounded
 * buffer at a time. Every page header is checked on first read, as PostgreSQL's xlogreader
 * does (XLogReaderValidatePageHeader); read errors other than a short segment throw.
 */
class WalPages {
  /** xlp_xlog_blcksz, from the first long header read. */
  pageBytes = 0;
  private handle: FileHandle | null = null;
  private segment = -1n;
  private readonly buffer = Buffer.alloc(READ_BYTES);
  private bufferLsn = -1n;
  private bufferFilled = 0;
  private checkedUpTo = -1n;
  private magic: number | null = null;
  private systemId: bigint | null = null;
  private latestTimeline = 0;

  constructor(
    private readonly walDir: string,
    private readonly span: WalSpan,
    private readonly signal: AbortSignal | undefined,
  ) {}

  segmentOf(lsn: bigint): string {
    return segmentName(this.span.timeline, lsn, this.span.segmentBytes);
  }

  /** The page holding `lsn`, its header checked. */
  async pageHolding(lsn: bigint): Promise<WalPage> {
    const segmentBytes = BigInt(this.span.segmentBytes);
    if (lsn / segmentBytes !== this.segment) await this.openSegment(lsn - (lsn % segmentBytes));
    const pageLsn = lsn - (lsn % BigInt(this.pageBytes));
    const bytes = await this.bytesOf(pageLsn);
    if (pageLsn > this.checkedUpTo) this.check(pageLsn, bytes);
    const info = bytes.readUInt16LE(2);
    return {
      lsn: pageLsn,
      bytes,
      info,
      remainingBytes: bytes.readUInt32LE(16),
      headerBytes: info & XLP_LONG_HEADER ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER,
    };
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }

  /** Opens the segment starting at `first` and, as xlogreader does, checks its first page's long header on the way in. */
  private async openSegment(first: bigint): Promise<void> {
    this.signal?.throwIfAborted();
    await this.close();
    this.handle = await open(join(this.walDir, this.segmentOf(first)), 'r');
    this.segment = first / BigInt(this.span.segmentBytes);
    this.bufferLsn = -1n;
    const header = Buffer.alloc(LONG_PAGE_HEADER);
    const filled = await this.read(header, 0);
    if (filled < LONG_PAGE_HEADER)
      throw new DamageFound(first, `segment ends after ${filled} bytes`);
    this.check(first, header);
  }

  private async bytesOf(pageLsn: bigint): Promise<Buffer> {
    const at = Number(pageLsn - this.bufferLsn);
    if (this.bufferLsn >= 0n && at >= 0 && at + this.pageBytes <= this.bufferFilled)
      return this.buffer.subarray(at, at + this.pageBytes);
    const offset = Number(pageLsn % BigInt(this.span.segmentBytes));
    const length = Math.min(READ_BYTES, this.span.segmentBytes - offset);
    this.bufferLsn = pageLsn;
    this.bufferFilled = await this.read(this.buffer.subarray(0, length), offset);
    if (this.bufferFilled < this.pageBytes)
      throw new DamageFound(pageLsn, `segment ends after ${offset + this.bufferFilled} bytes`);
    return this.buffer.subarray(0, this.pageBytes);
  }

  /** Fills `into` from `offset` of the open segment; fewer bytes only at its end. */
  private async read(into: Buffer, offset: number): Promise<number> {
    let filled = 0;
    while (filled < into.length) {
      const { bytesRead } = await this.handle!.read(
        into,
        filled,
        into.length - filled,
        offset + filled,
      );
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled;
  }

  private check(lsn: bigint, header: Buffer): void {
    const fail = (problem: string): never => {
      throw new DamageFound(lsn, problem);
    };
    // First: a recycled or zeroed page shows here, and says so better than by its magic.
    const address = header.readBigUInt64LE(8);
    if (address !== lsn)
      fail(`page address ${formatLsn(address)} where ${formatLsn(lsn)} was expected`);
    // Each major version has its own magic: the first page read tells which, the rest must agree.
    const magic = header.readUInt16LE(0);
    this.magic ??= magic;
    if (magic !== this.magic)
      fail(
        `page magic ${hex(magic)} where ${hex(this.magic)} (that of the pages before) was expected`,
      );
    const info = header.readUInt16LE(2);
    const segmentStart = lsn % BigInt(this.span.segmentBytes) === 0n;
    if (segmentStart && !(info & XLP_LONG_HEADER))
      fail('no long page header on the first page of a segment');
    if (!segmentStart && info & XLP_LONG_HEADER)
      fail('a long page header on a page inside a segment');
    if (segmentStart) this.checkLongHeader(header, fail);
    // Not "equal to the range's": the page where a standby was promoted is still of the
    // timeline before, in the new timeline's segment. Timelines only grow (as xlogreader checks).
    const timeline = header.readUInt32LE(4);
    if (timeline === 0 || timeline > this.span.timeline)
      fail(`page of timeline ${timeline} in a segment of timeline ${this.span.timeline}`);
    if (timeline < this.latestTimeline)
      fail(`page of timeline ${timeline} after pages of timeline ${this.latestTimeline}`);
    this.latestTimeline = timeline;
    this.checkedUpTo = lsn;
  }

  private checkLongHeader(header: Buffer, fail: (problem: string) => never): void {
    const segmentBytes = header.readUInt32LE(32);
    if (segmentBytes !== this.span.segmentBytes)
      fail(`segment size ${segmentBytes} where ${this.span.segmentBytes} was expected`);
    const pageBytes = header.readUInt32LE(36);
    // The first long header sets the page size: configure --with-wal-blocksize allows 1 to 64 KiB.
    if (this.pageBytes === 0) {
      if (pageBytes < 1024 || pageBytes > 65536 || (pageBytes & (pageBytes - 1)) !== 0)
        fail(`page size ${pageBytes} is not a power of two from 1 KiB to 64 KiB`);
      this.pageBytes = pageBytes;
    }
    if (pageBytes !== this.pageBytes)
      fail(`page size ${pageBytes} where ${this.pageBytes} was expected`);
    const systemId = header.readBigUInt64LE(24);
    this.systemId ??= systemId;
    if (systemId !== this.systemId)
      fail(
        `system identifier ${systemId} where ${this.systemId} (that of the segments before) was expected`,
      );
  }
}

function hex(value: number): string {
  return `0x${value.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A record being read: where it starts, how long it says it is, and what has been read of it. */
interface RecordInProgress {
  lsn: bigint;
  length: number;
  got: number;
  crc: number;
}

/**
 * Reads records page by page, checking each as xlogreader does (ValidXLogRecordHeader,
 * ValidXLogRecord). Synchronous within a page: the only waits are for the next page.
 */
class WalRecords {
  records = 0;
  private previous: bigint | null = null;
  private inProgress: RecordInProgress | null = null;
  private readonly header = Buffer.alloc(RECORD_HEADER);
  /** What the CRC covers of the header, after the data. */
  private readonly headerUpToCrc = this.header.subarray(0, CRC_OFFSET);

  constructor(
    private readonly pages: WalPages,
    private readonly span: WalSpan,
  ) {}

  /**
   * The first record at or after `start`: past a page header and any data of a record begun
   * on an earlier page, as pg_waldump finds it (XLogFindNextRecord).
   */
  async first(start: bigint): Promise<bigint> {
    if (start % BigInt(ALIGN) !== 0n)
      throw new DamageFound(start, 'the range starts where no record can (not 8-byte aligned)');
    let at = start;
    while (at < this.span.end) {
      const page = await this.pages.pageHolding(at);
      if (at - page.lsn >= page.headerBytes) return at;
      if (!(page.info & XLP_FIRST_IS_CONTRECORD)) return page.lsn + BigInt(page.headerBytes);
      const continuation = maxAlign(page.remainingBytes);
      if (continuation < this.pages.pageBytes - page.headerBytes)
        return page.lsn + BigInt(page.headerBytes + continuation);
      at = page.lsn + BigInt(this.pages.pageBytes);
    }
    return at;
  }

  /**
   * Reads the records on `page` from `offset` (0: from its header, continuing the record in
   * progress) up to the span's end; returns where to read on, or null where the span ends.
   */
  readPage(page: WalPage, offset: number): bigint | null {
    const { pageBytes } = this.pages;
    const untilEnd = this.span.end - page.lsn;
    // Bytes after the span's end are not the backup's: they are never judged.
    const end = untilEnd < BigInt(pageBytes) ? Number(untilEnd) : pageBytes;
    let at = offset === 0 ? this.afterHeader(page) : offset;
    for (;;) {
      let record = this.inProgress;
      if (record === null) {
        if (at >= end) {
          const nextPage = page.lsn + BigInt(pageBytes);
          return nextPage < this.span.end ? nextPage : null;
        }
        record = this.begin(page.lsn + BigInt(at), page.bytes.readUInt32LE(at));
      }
      const take = Math.min(pageBytes - at, record.length - record.got);
      if (at + take > end) throw this.pastEnd(record);
      this.feed(page.bytes.subarray(at, at + take), record);
      at += take;
      if (record.got < record.length) {
        const nextPage = page.lsn + BigInt(pageBytes);
        if (nextPage >= this.span.end) throw this.pastEnd(record);
        return nextPage;
      }
      if (this.finish(record)) {
        // After an XLOG_SWITCH the rest of the segment is padding: the next record opens the next one.
        const segmentBytes = BigInt(this.span.segmentBytes);
        const next = ((page.lsn + BigInt(at) + segmentBytes - 1n) / segmentBytes) * segmentBytes;
        return next < this.span.end ? next : null;
      }
      at = maxAlign(at);
    }
  }

  /** Where records start on a page read from its beginning, once its header says how the page before ended. */
  private afterHeader(page: WalPage): number {
    const record = this.inProgress;
    // A crash left that record unfinished and recovery wrote on after it: it is abandoned.
    if (record !== null && page.info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) this.inProgress = null;
    else if (record === null && page.info & XLP_FIRST_IS_CONTRECORD)
      throw new DamageFound(page.lsn, 'page continues a record where a new one was expected');
    else if (record !== null && !(page.info & XLP_FIRST_IS_CONTRECORD))
      throw new DamageFound(
        page.lsn,
        `missing continuation of the record at ${formatLsn(record.lsn)}`,
      );
    else if (record !== null && page.remainingBytes !== record.length - record.got)
      throw new DamageFound(
        page.lsn,
        `continuation of ${page.remainingBytes} bytes where the record at ${formatLsn(record.lsn)} still owes ${record.length - record.got}`,
      );
    return page.headerBytes;
  }

  private begin(lsn: bigint, length: number): RecordInProgress {
    if (length < RECORD_HEADER)
      throw new DamageFound(lsn, `record length ${length} is shorter than a record header`);
    if (length > MAX_RECORD_BYTES)
      throw new DamageFound(lsn, `record length ${length} is more than PostgreSQL writes`);
    this.inProgress = { lsn, length, got: 0, crc: 0 };
    return this.inProgress;
  }

  /** Takes the next bytes of `record`: its header kept aside, the rest into the CRC (data first, as PostgreSQL computes it). */
  private feed(piece: Buffer, record: RecordInProgress): void {
    const headerPart = Math.max(0, Math.min(piece.length, RECORD_HEADER - record.got));
    piece.copy(this.header, record.got, 0, headerPart);
    record.crc = crc32c(headerPart === 0 ? piece : piece.subarray(headerPart), record.crc);
    record.got += piece.length;
    if (headerPart > 0 && record.got >= RECORD_HEADER) this.checkPrevious(record.lsn);
  }

  /** Checks the whole record's CRC; true when it is an XLOG_SWITCH. */
  private finish(record: RecordInProgress): boolean {
    this.inProgress = null;
    const crc = crc32c(this.headerUpToCrc, record.crc);
    if (crc !== this.header.readUInt32LE(CRC_OFFSET))
      throw new DamageFound(record.lsn, 'record CRC mismatch');
    this.previous = record.lsn;
    this.records += 1;
    return this.header[17] === RM_XLOG_ID && (this.header[16]! & 0xf0) === XLOG_SWITCH;
  }

  private pastEnd(record: RecordInProgress): DamageFound {
    return new DamageFound(
      record.lsn,
      `record length ${record.length} runs past the range's end ${formatLsn(this.span.end)}`,
    );
  }

  /** xl_prev must name the record before; the first one read can only be checked to point back. */
  private checkPrevious(at: bigint): void {
    const previous = this.header.readBigUInt64LE(8);
    if (this.previous === null && previous >= at)
      throw new DamageFound(at, `xl_prev ${formatLsn(previous)} does not point before the record`);
    if (this.previous !== null && previous !== this.previous)
      throw new DamageFound(
        at,
        `xl_prev ${formatLsn(previous)} does not point at the previous record ${formatLsn(this.previous)}`,
      );
  }
}

/**
 * Parses the WAL of one span from the segments in `walDir`, as pg_verifybackup has pg_waldump
 * do, without needing pg_waldump (a server binary): page headers, record lengths, prev-links and
 * each record's CRC-32C, for every record starting in [start, end). Bytes after `end` are not
 * the backup's and are not judged. The first damage ends the reading (nothing past it can be
 * trusted); errors reading the files throw.
 */
export async function readWalRecords(
  walDir: string,
  span: WalSpan,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<WalReading> {
  if (span.start >= span.end) return { records: 0, damage: null };
  const pages = new WalPages(walDir, span, options.signal);
  const records = new WalRecords(pages, span);
  try {
    const first = await records.first(span.start);
    for (let at = first < span.end ? first : null; at !== null;) {
      const page = await pages.pageHolding(at);
      at = records.readPage(page, Number(at - page.lsn));
    }
    return { records: records.records, damage: null };
  } catch (error) {
    if (!(error instanceof DamageFound)) throw error;
    const damage = { segment: pages.segmentOf(error.lsn), lsn: error.lsn, problem: error.message };
    return { records: records.records, damage };
  } finally {
    await pages.close();
  }
}
